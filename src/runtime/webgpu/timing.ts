/// <reference types="@webgpu/types" />
import { BUFFER_USAGE, MAP_MODE } from './constants.js';
import { encodeStep, type Step } from './encode.js';

/**
 * The two ways a profiled run times each dispatch (see TimingMethod in profile.ts).
 */

/** WebGPU caps a query set at 4096 queries: two per dispatch. */
const QUERIES_PER_SET = 4096;

/**
 * Encode every step in a compute pass of its own, with timestamps written at the pass's start
 * and end, then resolve the queries into a buffer and copy them to a mappable one. Call the
 * returned function after submitting the encoder: it reads the times back (ns per step).
 */
export function encodeTimestamped(device: GPUDevice, encoder: GPUCommandEncoder, steps: readonly Step[]): () => Promise<number[]> {
  const sets: { set: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer; count: number }[] = [];
  for (let start = 0; start < steps.length; start += QUERIES_PER_SET / 2) {
    const count = Math.min(QUERIES_PER_SET, 2 * (steps.length - start));
    const set = device.createQuerySet({ label: 'moec profile', type: 'timestamp', count });
    const resolve = device.createBuffer({ label: 'moec profile resolve', size: count * 8, usage: BUFFER_USAGE.QUERY_RESOLVE | BUFFER_USAGE.COPY_SRC });
    const read = device.createBuffer({ label: 'moec profile read', size: count * 8, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
    sets.push({ set, resolve, read, count });
    for (let i = 0; i < count / 2; i++) {
      const pass = encoder.beginComputePass({ timestampWrites: { querySet: set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      encodeStep(pass, steps[start + i]!);
      pass.end();
    }
    encoder.resolveQuerySet(set, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
  }
  return async () => {
    const ns: number[] = [];
    try {
      for (const s of sets) {
        await s.read.mapAsync(MAP_MODE.READ);
        const t = new BigUint64Array(s.read.getMappedRange().slice(0));
        s.read.unmap();
        // The clock may not be monotonic across passes on every implementation: never negative.
        for (let i = 0; i < s.count; i += 2) ns.push(t[i + 1]! > t[i]! ? Number(t[i + 1]! - t[i]!) : 0);
      }
    } finally {
      for (const s of sets) {
        s.set.destroy();
        s.resolve.destroy();
        s.read.destroy();
      }
    }
    return ns;
  };
}

/** One command buffer per step, for timeBySubmit (encoded up front, so timing covers execution only). */
export function encodeEach(device: GPUDevice, steps: readonly Step[]): GPUCommandBuffer[] {
  return steps.map((step) => {
    const encoder = device.createCommandEncoder({ label: `moec profile ${step.dispatch.kernel}` });
    const pass = encoder.beginComputePass();
    encodeStep(pass, step);
    pass.end();
    return encoder.finish();
  });
}

/**
 * Submit each command buffer on its own and time it on the host until the queue reports it
 * done; also the median time of an empty submit, which every time includes.
 */
export async function timeBySubmit(device: GPUDevice, commands: readonly GPUCommandBuffer[]): Promise<{ ns: number[]; overheadNs: number }> {
  const timeOne = async (c: GPUCommandBuffer) => {
    const t0 = performance.now();
    device.queue.submit([c]);
    await device.queue.onSubmittedWorkDone();
    return Math.round((performance.now() - t0) * 1e6);
  };
  const ns: number[] = [];
  for (const c of commands) ns.push(await timeOne(c));
  const empty: number[] = [];
  for (let i = 0; i < 5; i++) empty.push(await timeOne(device.createCommandEncoder().finish()));
  empty.sort((a, b) => a - b);
  return { ns, overheadNs: empty[2]! };
}
