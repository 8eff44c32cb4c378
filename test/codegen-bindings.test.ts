import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/codegen/compile.js';
import { SCHEDULES } from '../src/codegen/schedule.js';
import { runPipeline } from '../src/passes/pipeline.js';
import { exampleFiles, readExample } from './helpers.js';
import { compileText } from './support/model.js';
import { small } from './support/small.js';

/**
 * Storage buffers per kernel, against the limits adapters give: WebGPU guarantees 8 per shader
 * stage, and Chromium grants at most 10. Every kernel of an f32/bf16/f16 model fits 8; a
 * grouped matmul over int8 or int4 experts binds values and scales for each weight and fits 10.
 */
describe('storage buffers per kernel', () => {
  it.each(exampleFiles().filter((f) => f in small))('%s fits the adapters it must run on', (name) => {
    const { graph } = compileText(readExample(name), small[name]!);
    const quantised = graph.params.some((p) => p.type.dtype === 'int8' || p.type.dtype === 'int4');
    for (const schedule of ['gpu', 'llvmpipe']) {
      const program = buildProgram(runPipeline(graph), SCHEDULES[schedule]!);
      const widest = Math.max(...program.kernels.map((k) => k.params.length));
      expect(widest, `${name} (${schedule})`).toBeLessThanOrEqual(quantised ? 10 : 8);
    }
  });
});
