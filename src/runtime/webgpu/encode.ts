/// <reference types="@webgpu/types" />
import type { Dispatch } from '../../codegen/program.js';

/**
 * One dispatch ready to encode at one token count: its pipeline, bind group and grid (workgroup
 * counts, or the buffer and byte offset its counts are read from).
 */
export interface Step {
  /** The dispatch's position in the program's dispatch list. */
  index: number;
  dispatch: Dispatch;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: { kind: 'direct'; counts: readonly [number, number, number] } | { kind: 'indirect'; buffer: GPUBuffer; offset: number };
}

export function encodeStep(pass: GPUComputePassEncoder, step: Step): void {
  pass.setPipeline(step.pipeline);
  pass.setBindGroup(0, step.bindGroup);
  if (step.grid.kind === 'direct') pass.dispatchWorkgroups(...step.grid.counts);
  else pass.dispatchWorkgroupsIndirect(step.grid.buffer, step.grid.offset);
}

/** Every step in one compute pass (consecutive steps with the same pipeline set it once). */
export function encodeSteps(encoder: GPUCommandEncoder, steps: readonly Step[]): void {
  const pass = encoder.beginComputePass();
  let pipeline: GPUComputePipeline | undefined;
  for (const step of steps) {
    if (step.pipeline !== pipeline) pass.setPipeline((pipeline = step.pipeline));
    pass.setBindGroup(0, step.bindGroup);
    if (step.grid.kind === 'direct') pass.dispatchWorkgroups(...step.grid.counts);
    else pass.dispatchWorkgroupsIndirect(step.grid.buffer, step.grid.offset);
  }
  pass.end();
}
