/// <reference types="@webgpu/types" />
import { evalAffine, gridSize, slotBytes, storedElements, type BufferDecl, type GridDim, type Program, type Slot } from '../../codegen/program.js';
import { STORED_BYTES } from '../safetensors.js';
import { encodeStored, STORED_DTYPE } from '../stored-layout.js';
import type { Tensor } from '../tensor.js';
import { BUFFER_USAGE, MAP_MODE } from './constants.js';
import { encodeSteps, type Step } from './encode.js';
import { LimitsError } from './errors.js';
import { compileKernels, type CompiledKernel } from './pipelines.js';
import type { DispatchTimings } from './profile.js';
import { encodeEach, encodeTimestamped, timeBySubmit } from './timing.js';

/**
 * Runs a Program on a WebGPU device. Per run: write the token count and the inputs, encode every
 * dispatch in order into one command encoder, submit once, read the output back once. Nothing
 * is decided here: buffers, slots, kernels, bindings and grids all come from the Program.
 */

export interface RunInputs {
  /** [tokens, width], row-major. */
  x: Float32Array;
  tokens: number;
  /** Token ids, for models that route by hash ([tokens]). */
  ids?: Int32Array;
  /** The request each token belongs to ([tokens]). */
  requests?: Int32Array;
}

export interface RunOptions {
  /** Time every dispatch (see DispatchTimings); slower than a plain run. */
  profile?: boolean;
}

export interface ProfiledRun {
  y: Float32Array;
  profile: DispatchTimings;
}

/**
 * Every device allocation that depends on the token count, made for a capacity and reused by
 * every run of at most that many tokens: only direct grids change between such runs.
 */
interface Shape {
  capacity: number;
  slots: GPUBuffer[];
  steps: PreparedStep[];
  readback: GPUBuffer;
}

/** A step whose direct grid is still affine in the token count. */
type PreparedStep = Omit<Step, 'grid'> & { grid: Step['grid'] | { kind: 'affine'; dims: readonly [GridDim, GridDim, GridDim] } };

/** Where one weight buffer lives: the device buffer and the stored elements of its param it holds. */
export interface WeightTarget {
  decl: BufferDecl;
  buffer: GPUBuffer;
  /** The range of the param's stored elements this buffer holds (the whole param unless chunked). */
  offset: number;
  count: number;
}

/** Fills the weight buffers: called once, after they are allocated and before any run. */
export type FillWeights = (device: GPUDevice, targets: ReadonlyMap<string, WeightTarget[]>) => Promise<void> | void;

export interface CreateOptions {
  /** Allocate for this many tokens now, and refuse runs of more (default: allocate per run, growing). */
  maxTokens?: number;
}

const STORAGE_USAGE = BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.INDIRECT;
const INPUT_NAMES = ['x', 'ids', 'requests'] as const;

export class WebGpuRunner {
  private shape: Shape | undefined;
  /** Runs one at a time: they share the slot buffers and the readback buffer. */
  private pending: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  private fixedCapacity: number | undefined;

  private constructor(
    readonly device: GPUDevice,
    readonly program: Program,
    private readonly kernels: ReadonlyMap<string, CompiledKernel>,
    private readonly buffers: ReadonlyMap<string, BufferDecl>,
    /** Weight and constant slots: allocated and filled once. */
    private readonly weightSlots: ReadonlyMap<number, GPUBuffer>,
    private readonly uniform: GPUBuffer,
  ) {}

  /**
   * Compile the program's kernels, allocate its weight and constant buffers, and let `fill`
   * write the weights (see tensorWeights). With `maxTokens`, every other buffer is allocated
   * now too, so a model that does not fit the device fails here rather than on its first run.
   */
  static async create(device: GPUDevice, program: Program, fill: FillWeights, options: CreateOptions = {}): Promise<WebGpuRunner> {
    const buffers = checkProgram(program);
    checkSubgroups(device, program);
    checkF16(device, program);
    const kernels = await compileKernels(device, program.kernels);
    const weightSlots = new Map<number, GPUBuffer>();
    const uniform = device.createBuffer({ label: 'moec shape', size: 16, usage: BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST });
    const targets = new Map<string, WeightTarget[]>();
    const storedCount = new Map(program.params.map((p) => [p.name, storedElements(p)]));
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      for (const decl of program.buffers) {
        if (decl.role !== 'weight' && decl.role !== 'constant') continue;
        const slot = program.slots[decl.slot]!;
        let buffer = weightSlots.get(slot.id);
        if (!buffer) {
          buffer = allocate(device, slot, 0, program);
          weightSlots.set(slot.id, buffer);
        }
        if (decl.role === 'constant') device.queue.writeBuffer(buffer, 0, Int32Array.from(decl.data ?? []));
        else {
          const source = decl.source ?? decl.name;
          const range = decl.sourceRange ?? { offset: 0, count: storedCount.get(source) ?? decl.bytes.b / 4 };
          targets.set(source, [...(targets.get(source) ?? []), { decl, buffer, ...range }]);
        }
      }
    } finally {
      await popScopes(device, 'allocating the weights');
    }
    const runner = new WebGpuRunner(device, program, kernels, buffers, weightSlots, uniform);
    try {
      await fill(device, targets);
      if (options.maxTokens !== undefined) {
        runner.fixedCapacity = options.maxTokens;
        await runner.shapeFor(options.maxTokens);
      }
    } catch (e) {
      runner.destroy();
      throw e;
    }
    return runner;
  }

  /** The most tokens a run may have, when the runner was created with maxTokens. */
  get maxTokens(): number | undefined {
    return this.fixedCapacity;
  }

  run(inputs: RunInputs): Promise<Float32Array>;
  run(inputs: RunInputs, options: RunOptions & { profile: true }): Promise<ProfiledRun>;
  run(inputs: RunInputs, options?: RunOptions): Promise<Float32Array | ProfiledRun>;
  run(inputs: RunInputs, options: RunOptions = {}): Promise<Float32Array | ProfiledRun> {
    const result = this.pending.then(() => this.runNow(inputs, options.profile ?? false));
    this.pending = result.catch(() => undefined);
    return result;
  }

  /** Free every device buffer this runner made; it cannot run afterwards. */
  destroy(): void {
    this.destroyed = true;
    this.releaseShape();
    for (const b of this.weightSlots.values()) b.destroy();
    this.uniform.destroy();
  }

  private async runNow(inputs: RunInputs, profile: boolean): Promise<Float32Array | ProfiledRun> {
    if (this.destroyed) throw new Error('internal: run on a destroyed WebGpuRunner');
    const { tokens } = inputs;
    if (!Number.isInteger(tokens) || tokens < 0) throw new Error(`run: tokens must be a non-negative integer, got ${tokens}`);
    if (this.fixedCapacity !== undefined && tokens > this.fixedCapacity) throw new Error(`run: ${tokens} tokens exceed the ${this.fixedCapacity} this runner was created for`);
    const width = this.program.width;
    if (inputs.x.length !== tokens * width) throw new Error(`run: x has ${inputs.x.length} values, expected tokens × width = ${tokens} × ${width}`);
    const data = this.program.inputs.map(({ name, buffer }) => {
      const decl = this.buffers.get(buffer)!;
      const values = inputs[name as (typeof INPUT_NAMES)[number]];
      if (!values) throw new Error(`run: the program reads input '${name}', which was not given`);
      const bytes = evalAffine(decl.bytes, tokens);
      if (values.byteLength !== bytes) throw new Error(`run: input '${name}' has ${values.length} values, expected ${bytes / 4} at ${tokens} tokens`);
      return { decl, values };
    });
    const method = this.timingMethod();
    if (tokens === 0) return profile ? { y: new Float32Array(0), profile: { method, tokens, dispatches: [] } } : new Float32Array(0);
    const shape = await this.shapeFor(tokens);
    const steps = this.stepsAt(shape, tokens);
    const outputBytes = tokens * this.program.width * 4;
    const { device } = this;

    // Everything up to the submit is synchronous, so this scope catches only this run's errors.
    device.pushErrorScope('validation');
    device.queue.writeBuffer(this.uniform, 0, new Uint32Array([tokens, 0, 0, 0]));
    for (const { decl, values } of data) device.queue.writeBuffer(shape.slots[decl.slot]!, 0, values);
    const encoder = device.createCommandEncoder({ label: `moec ${this.program.name}` });
    let readTimes: (() => Promise<number[]>) | undefined;
    let perDispatch: GPUCommandBuffer[] | undefined;
    if (!profile) encodeSteps(encoder, steps);
    else if (method === 'timestamp-query') readTimes = encodeTimestamped(device, encoder, steps);
    else perDispatch = encodeEach(device, steps);
    const output = this.buffers.get(this.program.output)!;
    encoder.copyBufferToBuffer(shape.slots[output.slot]!, 0, shape.readback, 0, outputBytes);
    const commands = encoder.finish();
    let submitted: { ns: number[]; overheadNs: number } | undefined;
    let scope: Promise<GPUError | null>;
    if (perDispatch) {
      // Timed submits await between dispatches: close the scope first.
      scope = device.popErrorScope();
      submitted = await timeBySubmit(device, perDispatch);
      device.queue.submit([commands]);
    } else {
      device.queue.submit([commands]);
      scope = device.popErrorScope();
    }

    const [error, mapped, times] = await Promise.allSettled([scope, shape.readback.mapAsync(MAP_MODE.READ, 0, outputBytes), readTimes?.()]);
    if (error.status === 'rejected') throw error.reason;
    if (error.value) throw new Error(`running ${this.program.name} at ${tokens} tokens: ${error.value.message}`);
    if (mapped.status === 'rejected') throw mapped.reason;
    const y = new Float32Array(shape.readback.getMappedRange(0, outputBytes).slice(0));
    shape.readback.unmap();
    if (!profile) return y;
    if (times.status === 'rejected') throw times.reason;
    if (submitted) return { y, profile: { ...this.timings('submit', tokens, steps, submitted.ns), submitOverheadNs: submitted.overheadNs } };
    return { y, profile: this.timings('timestamp-query', tokens, steps, times.value!) };
  }

  private timingMethod(): DispatchTimings['method'] {
    return this.device.features.has('timestamp-query') ? 'timestamp-query' : 'submit';
  }

  private timings(method: DispatchTimings['method'], tokens: number, steps: readonly Step[], ns: number[]): DispatchTimings {
    return { method, tokens, dispatches: steps.map((s, i) => ({ index: s.index, kernel: s.dispatch.kernel, node: s.dispatch.node, ns: ns[i]! })) };
  }

  private releaseShape(): void {
    if (!this.shape) return;
    for (const [id, b] of this.shape.slots.entries()) if (!this.weightSlots.has(id)) b.destroy();
    this.shape.readback.destroy();
    this.shape = undefined;
  }

  /** Slot buffers and bind groups for at least this many tokens (grown, never shrunk, without a fixed capacity). */
  private async shapeFor(tokens: number): Promise<Shape> {
    if (this.shape && this.shape.capacity >= tokens) return this.shape;
    const capacity = this.fixedCapacity ?? tokens;
    this.releaseShape();
    const { device, program } = this;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let shape: Shape;
    try {
      const output = this.buffers.get(program.output)!;
      const outputBytes = capacity * program.width * 4;
      if (evalAffine(output.bytes, capacity) < outputBytes) throw new Error(`internal: output buffer ${output.name} holds ${evalAffine(output.bytes, capacity)} bytes at ${capacity} tokens, less than tokens × width`);
      const slots = program.slots.map((s) => this.weightSlots.get(s.id) ?? allocate(device, s, capacity, program));
      const steps = this.steps(capacity, slots);
      const readback = device.createBuffer({ label: 'moec readback', size: Math.max(4, outputBytes), usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST });
      shape = { capacity, slots, steps, readback };
    } finally {
      await popScopes(device, `allocating buffers for ${capacity} tokens`);
    }
    this.shape = shape;
    return shape;
  }

  /** Pipelines and bind groups per dispatch; direct grids stay affine until a run's token count is known. */
  private steps(capacity: number, slots: readonly GPUBuffer[]): PreparedStep[] {
    const { device, program } = this;
    return program.dispatches.map((dispatch, index) => {
      const compiled = this.kernels.get(dispatch.kernel)!;
      let grid: PreparedStep['grid'];
      if (dispatch.grid.kind === 'direct') grid = { kind: 'affine', dims: [dispatch.grid.x, dispatch.grid.y, dispatch.grid.z] };
      else {
        const decl = this.buffers.get(dispatch.grid.buffer)!;
        if (dispatch.grid.offset + 12 > evalAffine(decl.bytes, capacity)) {
          throw new Error(`internal: dispatch ${index} (kernel '${dispatch.kernel}') reads its grid at byte ${dispatch.grid.offset} of ${decl.name}, which holds ${evalAffine(decl.bytes, capacity)} bytes`);
        }
        grid = { kind: 'indirect', buffer: slots[decl.slot]!, offset: dispatch.grid.offset };
      }
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniform } }];
      dispatch.bindings.forEach((name, i) => entries.push({ binding: i + 1, resource: { buffer: slots[this.buffers.get(name)!.slot]! } }));
      const bindGroup = device.createBindGroup({ label: `${dispatch.kernel} #${index}`, layout: compiled.layout, entries });
      return { index, dispatch, pipeline: compiled.pipeline, bindGroup, grid };
    });
  }

  /** The steps of a run at this token count: direct grids evaluated, empty ones dropped. */
  private stepsAt(shape: Shape, tokens: number): Step[] {
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    const steps: Step[] = [];
    for (const step of shape.steps) {
      if (step.grid.kind !== 'affine') {
        steps.push(step as Step);
        continue;
      }
      const counts = step.grid.dims.map((d) => gridSize(d, tokens)) as [number, number, number];
      if (counts.some((c) => c <= 0)) continue;
      if (counts.some((c) => c > maxGroups)) {
        throw new Error(`dispatch ${step.index} (kernel '${step.dispatch.kernel}') needs ${counts.join(' × ')} workgroups at ${tokens} tokens; this device allows ${maxGroups} per axis`);
      }
      steps.push({ ...step, grid: { kind: 'direct', counts } });
    }
    return steps;
  }
}

/** Compile a program and upload its weights from tensors in memory (WebGpuRunner.create with tensorWeights). */
export function createRunner(device: GPUDevice, program: Program, weights: ReadonlyMap<string, Tensor>, options: CreateOptions = {}): Promise<WebGpuRunner> {
  return WebGpuRunner.create(device, program, tensorWeights(weights), options);
}

/** Fill weight buffers from tensors in memory, each checked against the buffers that hold it. */
export function tensorWeights(weights: ReadonlyMap<string, Tensor>): FillWeights {
  return (device, targets) => {
    for (const list of targets.values()) {
      for (const t of list) {
        const data = weightData(t.decl, weights);
        if (t.decl.stored) writeBytes(device, t.buffer, 0, encodeStored(data, t.decl.stored));
        else device.queue.writeBuffer(t.buffer, 0, data);
      }
    }
  };
}

/** Write bytes at a 4-byte-aligned offset, zero-padding the end to a whole word (WebGPU writes whole words). */
export function writeBytes(device: GPUDevice, buffer: GPUBuffer, offset: number, bytes: Uint8Array): void {
  if (bytes.length % 4 === 0) return device.queue.writeBuffer(buffer, offset, bytes);
  const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
  padded.set(bytes);
  device.queue.writeBuffer(buffer, offset, padded);
}

/** The program's buffers by name, after checking that everything the runner relies on holds. */
function checkProgram(program: Program): Map<string, BufferDecl> {
  const buffers = new Map(program.buffers.map((b) => [b.name, b]));
  const fail = (what: string) => {
    throw new Error(`internal: program ${program.name}: ${what}`);
  };
  for (const b of program.buffers) {
    const slot = program.slots[b.slot];
    if (!slot || slot.id !== b.slot) fail(`buffer ${b.name} lives in slot ${b.slot}, which does not exist`);
    const fixed = b.role === 'weight' || b.role === 'constant';
    if (fixed && (b.bytes.a !== 0 || slot!.bytes.a !== 0)) fail(`${b.role} buffer ${b.name} grows with the token count`);
    if (fixed && slot!.role !== b.role) fail(`${b.role} buffer ${b.name} shares slot ${b.slot} with other buffers`);
    if (b.role === 'constant' && (b.data?.length ?? 0) * 4 !== b.bytes.b) fail(`constant buffer ${b.name} holds ${b.data?.length ?? 0} values in ${b.bytes.b} bytes`);
  }
  const kernels = new Map(program.kernels.map((k) => [k.name, k]));
  program.dispatches.forEach((d, i) => {
    const k = kernels.get(d.kernel);
    if (!k) return fail(`dispatch ${i} runs kernel ${d.kernel}, which does not exist`);
    if (d.bindings.length !== k.params.length) fail(`dispatch ${i} binds ${d.bindings.length} buffers to kernel ${d.kernel}, which has ${k.params.length} params`);
    for (const name of d.bindings) if (!buffers.has(name)) fail(`dispatch ${i} binds buffer ${name}, which is not declared`);
    if (d.grid.kind === 'indirect' && (!buffers.has(d.grid.buffer) || d.grid.offset % 4 !== 0)) fail(`dispatch ${i} reads its grid from ${d.grid.buffer} at byte ${d.grid.offset}`);
  });
  for (const input of program.inputs) {
    if (!(INPUT_NAMES as readonly string[]).includes(input.name)) fail(`unknown input ${input.name} (inputs are ${INPUT_NAMES.join(', ')})`);
    if (!buffers.has(input.buffer)) fail(`input ${input.name} is buffer ${input.buffer}, which is not declared`);
  }
  if (!buffers.has(program.output)) fail(`output buffer ${program.output} is not declared`);
  return buffers;
}

/** A weight buffer's data, checked against its declaration. */
function weightData(decl: BufferDecl, weights: ReadonlyMap<string, Tensor>): Float32Array | Int32Array {
  const name = decl.source ?? decl.name;
  const t = weights.get(name);
  if (!t) throw new Error(`weights: no tensor '${name}' for buffer ${decl.name}`);
  const wantFloat = decl.stored ? decl.stored === 'bf16' || decl.stored === 'f16' : decl.element === 'f32';
  if (wantFloat !== t.data instanceof Float32Array) {
    throw new Error(`weights: tensor '${name}' holds ${t.dtype} values; buffer ${decl.name} stores ${decl.element} elements`);
  }
  // A buffer may hold a range of the tensor (one chunk of stacked experts, to fit the binding limit).
  const range = decl.sourceRange ?? { offset: 0, count: t.data.length };
  const bytes = decl.stored ? Math.ceil((t.data.length * STORED_BYTES[STORED_DTYPE[decl.stored]]) / 4) * 4 : t.data.byteLength;
  if (range.offset + range.count > t.data.length || (!decl.sourceRange && bytes !== decl.bytes.b)) {
    throw new Error(`weights: tensor '${name}' has ${t.data.length} values; buffer ${decl.name} holds ${decl.bytes.b / 4}${decl.sourceRange ? ` from ${range.offset}` : ''}`);
  }
  return decl.sourceRange ? t.data.subarray(range.offset, range.offset + range.count) : t.data;
}

function allocate(device: GPUDevice, slot: Slot, tokens: number, program: Program): GPUBuffer {
  const size = slotBytes(slot, tokens);
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (size > limit) {
    const names = program.buffers.filter((b) => b.slot === slot.id).map((b) => b.name);
    throw new Error(`slot ${slot.id} (${names.join(', ')}) needs ${size} bytes at ${tokens} tokens; this device binds at most ${limit} bytes per buffer`);
  }
  return device.createBuffer({ label: `moec slot ${slot.id} (${slot.role})`, size, usage: STORAGE_USAGE });
}

/** Pop the validation scope and the out-of-memory scope under it (both at once, so no other scope interleaves); throw what they caught. */
async function popScopes(device: GPUDevice, doing: string): Promise<void> {
  const [validation, memory] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  const error = memory ?? validation;
  if (error) throw new Error(`${doing}: ${error.message}`);
}

/** A program with f16 arithmetic needs shader-f16 (WGSL's `enable f16`). */
function checkF16(device: GPUDevice, program: Program): void {
  if (program.f16 && !device.features.has('shader-f16')) {
    throw new LimitsError(`${program.name} was compiled with f16 arithmetic and this device has no shader-f16: use the module's f32 program (load with arithmetic: 'f32'), or compile without --arithmetic f16`);
  }
}

/** A program compiled for subgroups of one size computes wrong results on any other: refuse it. */
function checkSubgroups(device: GPUDevice, program: Program): void {
  const want = program.subgroupSize;
  if (want === undefined) return;
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const [min, max] = [info?.subgroupMinSize, info?.subgroupMaxSize];
  if (!device.features.has('subgroups') || min !== want || max !== want) {
    const has = !device.features.has('subgroups') ? 'has no subgroups' : `has subgroups of ${min === max ? min : `${min} to ${max}`} invocations`;
    throw new LimitsError(`${program.name} was compiled for subgroups of exactly ${want} invocations (its schedule, such as llvmpipe or cuda, shares work through them) and this device ${has}: compile with --schedule gpu, which needs no subgroups`);
  }
}
