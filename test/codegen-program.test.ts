import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32, KernelBuilder } from '../src/codegen/build.js';
import { buildProgram, wgslFiles } from '../src/codegen/compile.js';
import type { Program } from '../src/codegen/program.js';
import { parseProgramJson, printProgram, programJson } from '../src/codegen/program-text.js';
import { SCHEDULES } from '../src/codegen/schedule.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText } from './support/model.js';
import { small } from './support/small.js';

/**
 * The Program as data and as text (src/codegen/program-text.ts): the JSON a runtime reads
 * gives back the Program, the text and the WGSL are the same on every build, and one example's
 * program and kernels are golden files, so a change to the scheduler shows in review as a diff.
 */

function build(name: string, schedule = 'llvmpipe'): Program {
  const { graph } = compileText(readExample(name), small[name]);
  return buildProgram(runPipeline(graph), SCHEDULES[schedule]!);
}

const names = exampleFiles().filter((f) => f in small);

/** Paths where two JSON-like values differ (Object.is on leaves, keys compared both ways). */
function differences(got: unknown, want: unknown, path = '$', out: string[] = []): string[] {
  if (typeof got !== 'object' || got === null || typeof want !== 'object' || want === null) {
    if (!Object.is(got, want)) out.push(`${path}: ${String(got)} for ${String(want)}`);
    return out;
  }
  if (Array.isArray(got) !== Array.isArray(want)) {
    out.push(`${path}: an array on one side only`);
    return out;
  }
  const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
  for (const key of keys) {
    const [g, w] = [(got as Record<string, unknown>)[key], (want as Record<string, unknown>)[key]];
    if (!(key in got) || !(key in want)) out.push(`${path}.${key}: missing on the ${key in got ? 'original' : 'parsed'} side`);
    else differences(g, w, `${path}.${key}`, out);
  }
  return out;
}

describe('programJson', () => {
  it.each(names)('%s: parseProgramJson gives back the Program exactly', (name) => {
    const p = build(name);
    expect(differences(parseProgramJson(programJson(p)), p)).toEqual([]);
    expect(parseProgramJson(programJson(p)), name).toStrictEqual(p);
  });

  it('writes non-finite constants as strings, since JSON has no infinities', () => {
    const text = programJson(build(names[0]!));
    expect(text).toContain('"-Infinity"');
    expect(text).not.toMatch(/\bnull\b/);
  });

  it('keeps an infinite f32 constant', () => {
    const k = new KernelBuilder('mask', 'stores -inf', [1, 1, 1]);
    k.buffer('y', 'f32', 'read_write');
    k.store('y', 0, f32(-Infinity));
    const p: Program = {
      name: 'p',
      width: 1,
      buffers: [{ name: 'y', role: 'output', element: 'f32', bytes: { a: 4, b: 0 }, slot: 0 }],
      slots: [{ id: 0, bytes: { a: 4, b: 0 }, role: 'output' }],
      kernels: [k.finish()],
      dispatches: [],
      inputs: [],
      output: 'y',
      params: [],
      notes: [],
    };
    expect(parseProgramJson(programJson(p))).toStrictEqual(p);
  });

  it('is one JSON document ending in a newline', () => {
    const text = programJson(build('mixtral-8x7b.moe'));
    expect(text.endsWith('}\n')).toBe(true);
    expect(() => JSON.parse(text)).not.toThrow();
  });
});

describe('the Program is the same on every build', () => {
  it.each(names.flatMap((name) => Object.keys(SCHEDULES).map((s) => [name, s] as const)))('%s (%s): printProgram, programJson and the WGSL are byte-identical across two builds', (name, schedule) => {
    const [one, two] = [build(name, schedule), build(name, schedule)];
    expect(printProgram(two)).toBe(printProgram(one));
    expect(programJson(two)).toBe(programJson(one));
    expect([...wgslFiles(two)]).toEqual([...wgslFiles(one)]);
  });
});

describe('golden program: deepseek-v3 at test sizes, llvmpipe schedule', () => {
  const p = build('deepseek-v3.moe', 'llvmpipe');
  const files = wgslFiles(p);
  const dir = join(import.meta.dirname, 'golden/program/deepseek-v3');

  it('prints the golden program text', async () => {
    await expect(printProgram(p)).toMatchFileSnapshot('golden/program/deepseek-v3.program');
  });

  it.each([...files.keys()])('prints the golden %s', async (file) => {
    await expect(files.get(file)).toMatchFileSnapshot(`golden/program/deepseek-v3/${file}`);
  });

  it('has a golden file for every kernel and none for a kernel that is gone', () => {
    expect(files.size).toBe(p.kernels.length);
    if (!existsSync(dir)) return; // written by the tests above on the first run
    expect(readdirSync(dir).sort()).toEqual([...files.keys()].sort());
  });
});

describe('experts with biases and a clamped SwiGLU (gpt-oss)', () => {
  const { graph } = compileText(readExample('gpt-oss-20b.moe'), small['gpt-oss-20b.moe']);
  const layers = 24;
  const build = (schedule: string) => buildProgram(runPipeline(graph), SCHEDULES[schedule]!);

  it('run in the fused kernels, the biases added to the finished sums: 11 launches per layer, not 20 op by op', () => {
    for (const schedule of ['gpu', 'llvmpipe', 'cuda']) {
      const p = build(schedule);
      expect(p.notes, schedule).toEqual([]);
      const names = new Set(p.dispatches.map((d) => d.kernel.replace(/_\d+$/, '')));
      // No expert product runs op by op: no zero fill, bias pass or separate product.
      for (const gone of ['zero', 'grouped_bias', 'grouped_matmul', 'mul']) expect(names.has(gone), `${schedule}: ${gone}`).toBe(false);
      // gpu and llvmpipe: gate, then up with the activations (9 storage buffers in one kernel exceed
      // WebGPU's 8); cuda: one kernel and its split-K sum.
      expect(p.dispatches.length / layers, schedule).toBe(11);
      const gate = p.kernels.find((k) => k.name === (schedule === 'cuda' ? 'grouped_glu' : 'grouped_up_glu'))!;
      expect(gate.params.map((q) => q.name)).toEqual(expect.arrayContaining(schedule === 'cuda' ? ['b0', 'b1'] : ['b0', 'gate']));
      // WebGPU guarantees 8 storage buffers per kernel; CUDA has no such limit.
      if (schedule !== 'cuda') expect(Math.max(...p.kernels.map((k) => k.params.length)), schedule).toBeLessThanOrEqual(8);
    }
  });
});
