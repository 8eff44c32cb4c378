import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cudaFiles } from '../src/codegen/cuda/files.js';
import { printCudaKernel } from '../src/codegen/cuda/print.js';
import { RUNTIME_HEADER } from '../src/codegen/cuda/runtime-header.js';
import { SAFETENSORS_HEADER } from '../src/codegen/cuda/safetensors-header.js';
import { readSafetensors, writeSafetensors } from '../src/runtime/safetensors.js';
import { buildCuda, buildName, PRINTER_KERNELS, TENSOR_CORE_BUILDS, type CudaBuild } from './support/cuda.js';
import { exampleFiles, root } from './helpers.js';
import { small } from './support/small.js';

/**
 * Every example's CUDA output compiles with nvcc for sm_80 and sm_90 with warnings (nvcc's and
 * the host compiler's -Wall -Wextra) as errors: one nvcc call per example with both -gencode
 * targets, `-c` only, two at a time. The harness links against one model, and its host logic
 * (argument and input-file checks, messages matching moec run's) runs without a GPU. Running
 * the kernels needs one: scripts/gpu-check.sh. Skips only where nvcc is missing, and fails
 * then under CI=true.
 */
const NVCC = process.env.NVCC ?? (existsSync('/usr/local/bin/nvcc') ? '/usr/local/bin/nvcc' : 'nvcc');
const hasNvcc = spawnSync(NVCC, ['--version'], { encoding: 'utf8' }).status === 0;
const CI = process.env.CI === 'true';
const FLAGS = ['-std=c++17', '-Werror', 'all-warnings', '-Xcompiler', '-Wall,-Wextra'];
const ARCHES = ['-gencode', 'arch=compute_80,code=sm_80', '-gencode', 'arch=compute_90,code=sm_90'];
const POOL = 2;

interface Job {
  name: string;
  cwd: string;
  args: string[];
}
interface Result {
  code: number | null;
  output: string;
  seconds: number;
}

function nvcc(job: Job): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(NVCC, job.args, { cwd: job.cwd });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: -1, output: String(err), seconds: 0 }));
    child.on('close', (code) => resolve({ code, output, seconds: (Date.now() - started) / 1000 }));
  });
}

async function runPool(jobs: Job[]): Promise<Map<string, Result>> {
  const results = new Map<string, Result>();
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: POOL }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) results.set(job.name, await nvcc(job));
    }),
  );
  return results;
}

const dir = mkdtempSync(join(tmpdir(), 'moec-cuda-'));
const examples = exampleFiles().filter((f) => f in small);
/**
 * Every example under the cuda schedule (what moec compile --target cuda writes), DeepSeek-V3
 * under llvmpipe (subgroups), and the tensor-core builds (f16 and bf16 subgroup matrices: WMMA).
 */
const builds: CudaBuild[] = [...examples.map((example) => ({ example, schedule: 'cuda' })), { example: 'deepseek-v3.moe', schedule: 'llvmpipe' }, ...TENSOR_CORE_BUILDS];
const LINKED = 'mixtral-8x7b-cuda';

function writeBuild(build: CudaBuild): { cwd: string; model: string } {
  const cwd = join(dir, buildName(build));
  mkdirSync(cwd, { recursive: true });
  const { program } = buildCuda(build);
  for (const [file, text] of cudaFiles(program)) writeFileSync(join(cwd, file), text);
  return { cwd, model: `${program.name}.cu` };
}

let results = new Map<string, Result>();
let linkedDir = '';
let wallSeconds = 0;

describe.skipIf(!hasNvcc && !CI)(hasNvcc ? `nvcc (${NVCC})` : `nvcc: not found (set NVCC); skipped`, () => {
  beforeAll(async () => {
    if (!hasNvcc) throw new Error(`nvcc not found at ${NVCC}: CUDA output cannot be compiled (CI=true)`);
    const jobs: Job[] = builds.map((build) => {
      const { cwd, model } = writeBuild(build);
      if (buildName(build) === LINKED) linkedDir = cwd;
      return { name: buildName(build), cwd, args: [...FLAGS, ...ARCHES, '-c', model, '-o', 'model.o'] };
    });
    jobs.push({ name: 'harness', cwd: linkedDir, args: [...FLAGS, '-gencode', 'arch=compute_80,code=sm_80', '-c', 'harness.cu', '-o', 'harness.o'] });
    const printer = join(dir, 'printer');
    mkdirSync(printer);
    writeFileSync(join(printer, 'moec_runtime.cuh'), RUNTIME_HEADER);
    writeFileSync(join(printer, 'moec_safetensors.h'), SAFETENSORS_HEADER);
    writeFileSync(join(printer, 'kernels.cu'), `#include "moec_runtime.cuh"\n#include <mma.h>\nnamespace moec_printer_test {\n${PRINTER_KERNELS.map(printCudaKernel).join('\n')}}\n`);
    jobs.push({ name: 'printer kernels', cwd: printer, args: [...FLAGS, ...ARCHES, '-c', 'kernels.cu', '-o', 'kernels.o'] });
    const started = Date.now();
    results = await runPool(jobs);
    wallSeconds = (Date.now() - started) / 1000;
    const slowest = [...results].sort((a, b) => b[1].seconds - a[1].seconds)[0];
    process.stderr.write(`cuda-nvcc: ${jobs.length} nvcc calls, ${POOL} at a time, in ${wallSeconds.toFixed(0)} s (slowest: ${slowest?.[0]}, ${slowest?.[1].seconds.toFixed(0)} s)\n`);
  }, 1_800_000);

  it.each(builds.map(buildName))('%s compiles for sm_80 and sm_90 without warnings', (name) => {
    const r = results.get(name)!;
    expect(r.output, name).toBe('');
    expect(r.code).toBe(0);
  });

  it('the printer test kernels compile', () => {
    expect(results.get('printer kernels')!.output).toBe('');
    expect(results.get('printer kernels')!.code).toBe(0);
  });

  describe('the harness', () => {
    const harness = () => join(linkedDir, 'harness');
    const run = (...args: string[]) => spawnSync(harness(), args, { encoding: 'utf8', cwd: linkedDir });
    const moec = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'moec.js'), ...args], { encoding: 'utf8', cwd: root });
    const dims = Object.entries(small['mixtral-8x7b.moe']!).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
    const model = join(root, 'examples', 'mixtral-8x7b.moe');

    beforeAll(() => {
      expect(results.get('harness')!.output).toBe('');
      const link = spawnSync(NVCC, ['harness.o', 'model.o', '-o', 'harness'], { cwd: linkedDir, encoding: 'utf8' });
      expect(link.stderr).toBe('');
      expect(link.status).toBe(0);
      expect(moec('init-weights', model, ...dims, '--seed', '1', '-o', join(linkedDir, 'w.safetensors')).status).toBe(0);
    }, 120_000);

    it('links against the model library', () => {
      expect(existsSync(harness())).toBe(true);
    });

    it('prints its usage and exits 2 when the arguments are wrong', () => {
      const r = run('only-one.safetensors');
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^usage: harness WEIGHTS\.safetensors INPUT\.safetensors OUTPUT\.safetensors/);
    });

    it('rejects an input file with the message moec run gives', () => {
      const input = join(linkedDir, 'narrow.safetensors');
      writeFileSync(input, writeSafetensors(new Map([['x', { tensor: { dtype: 'f32', shape: [2, 8], data: new Float32Array(16) }, as: 'F32' }]])));
      const ours = run(join(linkedDir, 'w.safetensors'), input, join(linkedDir, 'y.safetensors'));
      const theirs = moec('run', model, ...dims, '--weights', join(linkedDir, 'w.safetensors'), '--input', input, '-o', join(linkedDir, 'y-ref.safetensors'));
      expect(ours.status).toBe(1);
      expect(theirs.status).toBe(1);
      expect(ours.stderr).toBe(`harness: ${input}: tensor 'x' has shape [2, 8], expected [tokens, 16] (the model width is 16)\n`);
      expect(theirs.stderr).toContain(`${input}: tensor 'x' has shape [2, 8], expected [tokens, 16] (the model width is 16)`);
    });

    it('reports a missing file by name', () => {
      const r = run(join(linkedDir, 'w.safetensors'), join(linkedDir, 'absent.safetensors'), join(linkedDir, 'y.safetensors'));
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`harness: ${join(linkedDir, 'absent.safetensors')}: cannot open: No such file or directory\n`);
    });

    it('on a valid input, matches moec run where a GPU is present, or says why it cannot run', () => {
      const ref = join(linkedDir, 'ref.safetensors');
      expect(moec('run', model, ...dims, '--weights', join(linkedDir, 'w.safetensors'), '--random-input', '3', '-o', ref).status).toBe(0);
      const stored = readSafetensors(readFileSync(ref));
      const input = join(linkedDir, 'x.safetensors');
      writeFileSync(input, writeSafetensors(new Map([['x', { tensor: stored.get('x')!.tensor, as: 'F32' }]])));
      const out = join(linkedDir, 'y.safetensors');
      const r = run(join(linkedDir, 'w.safetensors'), input, out);
      if (r.status === 0) {
        const [y, want] = [readSafetensors(readFileSync(out)).get('y')!.tensor.data, stored.get('y')!.tensor.data];
        let [num, den] = [0, 0];
        want.forEach((v, i) => ((num += (y[i]! - v) ** 2), (den += v * v)));
        expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
      } else {
        // No GPU here: the context cannot be created, and the harness says so instead of aborting.
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^harness: create: .*cuda/i);
      }
    });
  });
});
