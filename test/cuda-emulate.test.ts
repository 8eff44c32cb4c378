import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaFiles } from '../src/codegen/cuda/files.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { initWeights } from '../src/runtime/init-weights.js';
import { execute } from '../src/runtime/reference/execute.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import { buildCuda, buildName, HALF_TOLERANCE, TENSOR_CORE_BUILDS, type CudaBuild } from './support/cuda.js';
import { exampleFiles } from './helpers.js';
import { randomInput, randomWeights, relativeL2 } from './support/model.js';
import { small } from './support/small.js';

/**
 * The whole CUDA output run on the CPU: every example's generated model, runtime and harness,
 * compiled by g++ against a stand-in for the CUDA runtime (test/support/cuda-emulator: blocks
 * one after another, a block's threads as real threads, so barriers and warp shuffles behave),
 * with AddressSanitizer and UndefinedBehaviorSanitizer. It checks what compiling cannot: the
 * kernels, the fixed launches walking their virtual workgroups, the tables and the host API
 * compute what the CPU reference computes (relative L2 < 1e-5), a forward captured as a graph
 * in a context for 4x the tokens gives the same bits as a plain one, and nothing reads or writes
 * outside a buffer. Under f16 and bf16 arithmetic (TENSOR_CORE_BUILDS) the products run on
 * subgroup matrices, which the stand-in's mma.h emulates, and meet the 16-bit tolerance
 * (HALF_TOLERANCE) instead. It cannot check timing-dependent behaviour of a real GPU; that is
 * scripts/gpu-check.sh's. Skips only where g++ is missing, and fails then under CI=true.
 */
const CXX = process.env.CXX ?? 'g++';
const hasCxx = spawnSync(CXX, ['--version'], { encoding: 'utf8' }).status === 0;
const CI = process.env.CI === 'true';
const EMULATOR = join(import.meta.dirname, 'support', 'cuda-emulator');
const FLAGS = ['-std=c++20', '-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-pthread', `-I${EMULATOR}`, '-I.', '-x', 'c++'];
const POOL = 2;
const TOKENS = 5;
/**
 * A second input past the cuda schedule's split-K token limit (schedule.matmul.splitK), so both
 * of its paths run: for two examples only (a grouped and a dense product between them), as
 * each costs several times a TOKENS run on the stand-in.
 */
const MANY = 24;
const MANY_EXAMPLES = ['mixtral-8x7b.moe', 'deepseek-v3.moe'];


/** The triple-chevron launch is CUDA syntax: the stand-in takes it as a call. */
function asCpp(text: string): string {
  return text.replace(/(\w+)<<<(.*?)>>>\(/g, 'moec_emulate::launch($1, $2)(');
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: -1, output: String(err) }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** MOEC_CUDA_EXAMPLES=a.moe,b.moe runs only those (while developing; CI runs all). */
const only = process.env.MOEC_CUDA_EXAMPLES?.split(',');
const builds: CudaBuild[] = [...exampleFiles().filter((f) => f in small).map((example) => ({ example, schedule: 'cuda' })), ...TENSOR_CORE_BUILDS].filter((b) => !only || only.includes(b.example));
const names = builds.map(buildName);
const dir = mkdtempSync(join(tmpdir(), 'moec-cuda-emulate-'));
const built = new Map<string, { cwd: string; code: number | null; output: string; reference: Float32Array; many?: Float32Array; tolerance: number }>();

/** The build's CUDA output, weights, inputs (TOKENS and MANY tokens) and CPU reference outputs in a directory of its own. */
function prepare(build: CudaBuild): { cwd: string; model: string; reference: Float32Array; many?: Float32Array; tolerance: number } {
  const cwd = join(dir, buildName(build));
  mkdirSync(cwd);
  const { graph, program } = buildCuda(build);
  for (const [file, text] of cudaFiles(program)) writeFileSync(join(cwd, file), file.endsWith('.cu') || file.endsWith('.cuh') ? asCpp(text) : text);
  writeFileSync(join(cwd, 'w.safetensors'), writeSafetensors(initWeights(graph, 1)));
  const input = (tokens: number, file: string): Float32Array => {
    const x = randomInput(tokens, program.width, 2);
    const ids = Int32Array.from({ length: tokens }, (_, i) => i);
    writeFileSync(join(cwd, file), writeSafetensors(new Map([['x', { tensor: x, as: 'F32' }], ['ids', { tensor: { dtype: 'i32', shape: [tokens], data: ids }, as: 'I32' }]])));
    return execute(runPipeline(graph), randomWeights(graph, 1), { x, ids }).data as Float32Array;
  };
  const reference = input(TOKENS, 'x.safetensors');
  const many = MANY_EXAMPLES.includes(build.example) ? { many: input(MANY, 'x-many.safetensors') } : {};
  return { cwd, model: `${program.name}.cu`, reference, ...many, tolerance: build.arithmetic && build.arithmetic !== 'f32' ? HALF_TOLERANCE : 1e-5 };
}

describe.skipIf(!hasCxx && !CI)(hasCxx ? 'the CUDA output on the CPU stand-in' : `${CXX}: not found; skipped`, () => {
  beforeAll(async () => {
    if (!hasCxx) throw new Error(`${CXX} not found: the CUDA output cannot be run on the CPU stand-in (CI=true)`);
    const queue = builds.map((b) => ({ name: buildName(b), ...prepare(b) }));
    await Promise.all(
      Array.from({ length: POOL }, async () => {
        for (let job = queue.shift(); job; job = queue.shift()) {
          const r = await run(CXX, [...FLAGS, job.model, 'harness.cu', '-o', 'harness'], job.cwd);
          built.set(job.name, { cwd: job.cwd, ...r, reference: job.reference, ...(job.many ? { many: job.many } : {}), tolerance: job.tolerance });
        }
      }),
    );
  }, 3_600_000);

  it.each(names)('%s: matches the CPU reference, plain and captured in a larger context, with the same bits', async (name) => {
    const b = built.get(name)!;
    expect(b.output, 'g++').toBe('');
    expect(b.code).toBe(0);
    const runs = [
      ['y.safetensors'],
      ['y-graph.safetensors', '--graph', '--max-tokens', String(4 * TOKENS)],
      ['y-repeat.safetensors', '--repeat', '2'],
    ];
    const outputs: Float32Array[] = [];
    for (const [out, ...flags] of runs) {
      const r = await run(join(b.cwd, 'harness'), ['w.safetensors', 'x.safetensors', out!, ...flags], b.cwd);
      expect(r.output, `harness ${flags.join(' ')}`).toBe('');
      expect(r.code).toBe(0);
      outputs.push(readSafetensors(readFileSync(join(b.cwd, out!))).get('y')!.tensor.data as Float32Array);
    }
    expect(relativeL2(outputs[0]!, b.reference)).toBeLessThan(b.tolerance);
    for (const y of outputs.slice(1)) expect(Buffer.from(y.buffer).equals(Buffer.from(outputs[0]!.buffer))).toBe(true);
    if (!b.many) return;
    const many = await run(join(b.cwd, 'harness'), ['w.safetensors', 'x-many.safetensors', 'y-many.safetensors'], b.cwd);
    expect(many.output, `harness on ${MANY} tokens`).toBe('');
    expect(relativeL2(readSafetensors(readFileSync(join(b.cwd, 'y-many.safetensors'))).get('y')!.tensor.data as Float32Array, b.many)).toBeLessThan(b.tolerance);
  }, 600_000);
});
