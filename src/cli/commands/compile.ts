import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { formatBytes } from '../../checker/check.js';
import { buildProgram, wgslFiles } from '../../codegen/compile.js';
import { cudaFiles } from '../../codegen/cuda/files.js';
import { moduleFiles, programNeeds, type ModuleInfo } from '../../codegen/module.js';
import { printProgram, programJson } from '../../codegen/program-text.js';
import type { Arithmetic, Program } from '../../codegen/program.js';
import type { Graph } from '../../ir/graph.js';
import type { ResolvedModel } from '../../model/model.js';
import { SCHEDULES } from '../../codegen/schedule.js';
import { printDot } from '../../ir/dot.js';
import { buildGraph } from '../../ir/from-model.js';
import { printGraph } from '../../ir/print.js';
import { PASSES, runPipeline } from '../../passes/pipeline.js';
import { planMemory } from '../../passes/plan-memory.js';
import { planOffload, type OffloadPlan } from '../../passes/plan-offload.js';
import { CliError, loadModel, writeFileAtomic } from '../load.js';
import { inspectJson } from './inspect.js';
import { modelOptions, type ModelOptions } from '../options.js';

/** Token counts the memory plan is reported at. */
const PLAN_TOKENS = [1, 64, 4096];

interface CompileOptions extends ModelOptions {
  output: string;
  emit: 'ir' | 'dot';
  printAfter: string[];
  opt: boolean;
  target: 'wgsl' | 'cuda' | 'all' | 'none';
  schedule?: string;
  maxTokens: number;
  arithmetic: Arithmetic;
}

export function compileCommand(): Command {
  const names = PASSES.map((p) => p.name);
  const cmd = new Command('compile')
    .description(`check, build the IR and run the passes (${names.join(', ')}); write the optimised IR, the plans, and the kernel program as WGSL (with its TypeScript module) or CUDA`)
    .argument('<file>', 'the .moe file')
    .option('-o, --output <DIR>', 'output directory (created if missing)', 'out')
    .addOption(new Option('--emit <what>', 'the optimised graph as text IR or Graphviz').choices(['ir', 'dot']).default('ir'))
    .addOption(new Option('--print-after <PASS>', `print the IR after a pass to stdout (repeatable; ${names.join(', ')})`).argParser((v: string, acc: string[]) => [...acc, passName(v, names)]).default([]))
    .option('--no-opt', 'skip the passes: emit the MoE-level IR as built (no kernels)')
    .addOption(new Option('--target <target>', 'kernels to emit: WGSL (DIR/wgsl/*.wgsl and the module DIR/MODEL.js with its types in MODEL.d.ts), CUDA (DIR/cuda/: MODEL.cu, MODEL.h, harness.cu, CMakeLists.txt; docs/cuda.md), all (both, from one program) or none; with kernels, the program as DIR/MODEL.program and .program.json').choices(['wgsl', 'cuda', 'all', 'none']).default('wgsl'))
    .addOption(new Option('--max-tokens <N>', "the generated module's token limit per forward call: its default maxTokens, and the largest a load may ask for").argParser(positiveCount).default(4096))
    .addOption(new Option('--arithmetic <type>', "what the matmuls multiply in. f16: for WebGPU, also a twin program (DIR/MODEL.f16.program.json, DIR/wgsl-f16/) that the generated module runs on GPUs with shader-f16 (load's arithmetic option chooses); for CUDA (--target cuda, or the CUDA of --target all), the printed program itself. Under the cuda schedule, products with K and N multiples of 16 run on tensor cores (f16 or bf16 operands, f32 sums; sm_80 and later). bf16: CUDA only (WGSL has no bf16). Results meet the 16-bit tolerance, not f32's (docs/cuda.md, docs/runtime.md)").choices(['f32', 'f16', 'bf16']).default('f32'))
    .addOption(new Option('--schedule <name>', 'performance choices to compile for: gpu (WebGPU on real GPUs), llvmpipe (Mesa lavapipe on a CPU) or cuda (NVIDIA GPUs); default cuda for --target cuda, gpu otherwise; moec run picks one for its adapter').choices(Object.keys(SCHEDULES)));
  for (const o of modelOptions()) cmd.addOption(o);
  return cmd.action((file: string, opts: CompileOptions) => {
    if (!opts.opt && opts.printAfter.length) throw new CliError('--print-after needs the passes; drop --no-opt');
    if (!opts.opt && opts.target !== 'none') throw new CliError('kernels need the passes: drop --no-opt, or add --target none');
    if (opts.arithmetic !== 'f32' && (opts.target === 'none' || !opts.opt)) throw new CliError(`--arithmetic ${opts.arithmetic} changes the kernels: use it with --target wgsl, cuda or all`);
    if (opts.arithmetic === 'bf16' && opts.target !== 'cuda') throw new CliError('--arithmetic bf16 is for CUDA only (WGSL has no bf16): use it with --target cuda');
    if (opts.arithmetic === 'bf16' && opts.schedule && !SCHEDULES[opts.schedule]!.matmul.tensorCores) throw new CliError(`--arithmetic bf16 runs on tensor cores, which the ${opts.schedule} schedule does not use: use --schedule cuda`);
    const model = loadModel(file, opts.set, opts.model);
    const built = buildGraph(model);
    const graph = opts.opt
      ? runPipeline(built, { after: (pass, g) => opts.printAfter.includes(pass.name) && process.stdout.write(`// after ${pass.name}\n${printGraph(g)}`) })
      : built;
    const memory = PLAN_TOKENS.map((t) => planMemory(graph, t));
    const offload = planOffload(model, built); // expert groups are visible at the MoE level
    if (offload && !offload.fits) {
      const fallback = offload.fallbackBytes ? ` and ${formatBytes(offload.fallbackBytes)} of fallback copies` : '';
      throw new CliError(`${file}: the offload plan does not fit: ${formatBytes(offload.residentBytes)} of resident weights${fallback} exceed the ${formatBytes(offload.budgetBytes)} budget`);
    }
    try {
      mkdirSync(opts.output, { recursive: true });
    } catch (err) {
      throw new CliError(`cannot create output directory '${opts.output}': ${(err as Error).message}`);
    }
    // Everything is built before anything is written: a failure leaves the directory as it was.
    const schedule = opts.schedule ?? (opts.target === 'cuda' ? 'cuda' : 'gpu');
    // CUDA alone prints one program, in the chosen arithmetic; WebGPU's is f32, with an f16 twin beside it.
    const program = opts.opt && opts.target !== 'none' ? buildProgram(graph, SCHEDULES[schedule]!, opts.target === 'cuda' ? opts.arithmetic : 'f32') : undefined;
    const wgsl = program && opts.target !== 'cuda' ? program : undefined;
    const half = wgsl && opts.arithmetic === 'f16' ? buildProgram(graph, SCHEDULES[schedule]!, 'f16') : undefined;
    if (half?.matrices) throw new CliError(`the ${schedule} schedule's f16 products run on tensor cores, which WGSL does not have: use --target cuda, or another --schedule`);
    const kernels = wgsl ? wgslFiles(wgsl) : new Map<string, string>();
    const halfKernels = half ? wgslFiles(half) : new Map<string, string>();
    const module = wgsl ? moduleFiles(moduleInfo(model, built, wgsl, file, opts.maxTokens, Boolean(half))) : new Map<string, string>();
    const cuda = program && (opts.target === 'cuda' || opts.target === 'all') ? cudaFiles(half ?? program) : new Map<string, string>();
    const target = join(opts.output, `${model.name}.${opts.emit}`);
    writeFileAtomic(target, opts.emit === 'ir' ? printGraph(graph) : printDot(graph));
    const plan = join(opts.output, `${model.name}.plan.json`);
    writeFileAtomic(plan, `${JSON.stringify({ model: model.name, memory, offload: offload ?? null }, null, 2)}\n`);
    const wrote = [target, plan];
    if (wgsl) {
      wrote.push(writeKernels(join(opts.output, 'wgsl'), kernels));
      for (const [name, text] of module) writeFileAtomic(join(opts.output, name), text);
      wrote.push(...[...module.keys()].map((n) => join(opts.output, n)));
    }
    const halfJson = join(opts.output, `${model.name}.f16.program.json`);
    if (half) {
      wrote.push(writeKernels(join(opts.output, 'wgsl-f16'), halfKernels));
      writeFileAtomic(halfJson, programJson(half));
      wrote.push(halfJson);
    } else if (wgsl) {
      // An f16 twin of an earlier compile no longer belongs to the module.
      rmSync(halfJson, { force: true });
      const halfDir = join(opts.output, 'wgsl-f16');
      if (existsSync(halfDir)) {
        pruneKernels(halfDir, new Map());
        if (!readdirSync(halfDir).length) rmSync(halfDir, { recursive: true });
      }
    }
    if (cuda.size) {
      const dir = join(opts.output, 'cuda');
      mkdirSync(dir, { recursive: true });
      for (const [name, text] of cuda) writeFileAtomic(join(dir, name), text);
      wrote.push(`${dir}/ (${[...cuda.keys()].join(', ')})`);
    }
    if (program) {
      writeFileAtomic(join(opts.output, `${model.name}.program`), printProgram(program));
      writeFileAtomic(join(opts.output, `${model.name}.program.json`), programJson(program));
      wrote.push(join(opts.output, `${model.name}.program`), join(opts.output, `${model.name}.program.json`));
    }
    const programLine = program
      ? `\nprogram (${schedule} schedule): ${program.kernels.length} kernels, ${program.dispatches.length} dispatches per run, ${program.slots.length} device allocations${program.notes.map((n) => `\nnote: ${n}`).join('')}`
      : '';
    process.stderr.write(`${summary(model.name, model.layers.length, graph.nodes.length, opts.opt ? PASSES.length : 0, memory, offload)}${programLine}\nwrote ${wrote.join(', ')}\n`);
  });
}

/** Write a program's WGSL files into `dir`; returns what to report. */
function writeKernels(dir: string, kernels: Map<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of kernels) writeFileAtomic(join(dir, name), text);
  pruneKernels(dir, kernels);
  return `${dir}/ (${kernels.size} kernels)`;
}

/** Kernels of an earlier compile that this program no longer has would mislead a reader: remove them. */
function pruneKernels(dir: string, kernels: Map<string, string>): void {
  for (const old of readdirSync(dir)) if (old.endsWith('.wgsl') && !kernels.has(old)) rmSync(join(dir, old));
}

/** What the generated module says about its model: inspect's summary, the token limit and the inputs. */
function moduleInfo(model: ResolvedModel, built: Graph, program: Program, file: string, maxTokens: number, f16: boolean): ModuleInfo {
  const { width, dtype, weightDtype, layers, dims, blocks } = inspectJson(model, built);
  return { name: model.name, width, maxTokens, needs: programNeeds(program), dtype, weightDtype, layers, dims, blocks, source: basename(file), f16 };
}

function positiveCount(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, not '${text}'`);
  return n;
}

function passName(v: string, names: string[]): string {
  if (!names.includes(v)) throw new InvalidArgumentError(`no pass '${v}'; passes: ${names.join(', ')}`);
  return v;
}

function summary(name: string, layers: number, nodes: number, passes: number, memory: ReturnType<typeof planMemory>[], offload: OffloadPlan | undefined): string {
  const lines = [
    `compiled ${name}: ${layers} layers, ${nodes} IR nodes after ${passes} passes`,
    `activation memory: ${memory.map((m) => `${formatBytes(m.peakBytes)} at ${m.tokens} token${m.tokens === 1 ? '' : 's'} (${formatBytes(m.naiveBytes)} without reuse)`).join('; ')}`,
  ];
  if (offload) {
    lines.push(
      `offload: budget ${formatBytes(offload.budgetBytes)}; resident ${formatBytes(offload.residentBytes)}${offload.fallbackBytes ? `, fallback copies ${formatBytes(offload.fallbackBytes)}` : ''}; ` +
        `cache ${offload.cacheSlots} of ${offload.cachedExperts} experts (${offload.cacheSlotsPerLayer} per MoE layer, ${formatBytes(offload.expertBytes)} each, ${offload.cache})` +
        `${offload.prefetch.length ? `; prefetch next layer, top ${offload.prefetch[0]!.top}` : ''}`,
    );
  }
  return lines.join('\n');
}
