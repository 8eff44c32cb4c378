/// <reference types="@webgpu/types" />
import { slotBytes, type Program } from '../../codegen/program.js';
import { parseProgramJson } from '../../codegen/program-text.js';
import { openByteStream, SourceError, type WeightsSource } from '../byte-stream.js';
import { SafetensorsError, firstNonFinite } from '../safetensors.js';
import { describeAdapter, openDevice } from './device.js';
import { isSoftwareAdapter } from '../../codegen/schedule.js';
import { DeviceLostError, InputError, LimitsError, MoecRuntimeError, WeightsError } from './errors.js';
import { WebGpuRunner } from './launch.js';
import { streamWeights, type LoadProgress } from './stream-weights.js';

/**
 * A compiled model on a WebGPU device: what a generated module's `load` returns. Pipelines and
 * every buffer are made once, for `maxTokens`; `forward` takes any token count up to it, and
 * concurrent calls run one after another.
 */

export interface LoadOptions {
  /** The device to run on (default: the browser's adapter, or in Node the `webgpu` package's). */
  device?: GPUDevice;
  /** The most tokens one forward call may take (default: the compiled maximum). Buffers are sized for it. */
  maxTokens?: number;
  /** Called after each tensor is uploaded. */
  onProgress?: (progress: LoadProgress) => void;
  /**
   * What the matmuls compute in. 'f16' (the default where the module was compiled with
   * `--arithmetic f16` and the device is a GPU with shader-f16) multiplies in half precision:
   * results meet the f16 tolerance, not f32's. 'f32' (the default otherwise, software
   * rasterisers included) forces f32.
   */
  arithmetic?: 'f32' | 'f16';
}

/** A compiled module's programs: f32, and with `--arithmetic f16` an f16-arithmetic twin. */
export interface CompiledPrograms {
  f32: URL;
  f16?: URL;
}

export interface ForwardOptions {
  /** Token ids ([tokens]), for models that route by hash. */
  ids?: Int32Array;
  /** The request each token belongs to ([tokens], default all 0), for per-request routing (capacity, expert choice). */
  requests?: Int32Array;
}

/** What the generated module knows about its model (its own .d.ts narrows this to literal types). */
export interface ModelInfo {
  name: string;
  /** x and y are [tokens, width]. */
  width: number;
  /** The token count the module was compiled for: the default and largest maxTokens. */
  maxTokens: number;
  /** Inputs besides x that forward needs (ids for hash routing). */
  needs: readonly ('ids' | 'requests')[];
}

export class CompiledModel {
  private lost: DeviceLostError | undefined;
  private disposed = false;

  private constructor(
    readonly info: ModelInfo,
    readonly device: GPUDevice,
    private readonly runner: WebGpuRunner,
    /** The device was opened by load, so dispose destroys it. */
    private readonly ownsDevice: boolean,
  ) {
    device.lost.then((info) => {
      if (!this.disposed) this.lost = new DeviceLostError(info.reason, info.message);
    });
  }

  /** What the matmuls compute in on this device (LoadOptions.arithmetic). */
  get arithmetic(): 'f32' | 'f16' {
    return this.runner.program.f16 ? 'f16' : 'f32';
  }

  /** The most tokens one forward call may take. */
  get maxTokens(): number {
    return this.runner.maxTokens!;
  }

  /**
   * y = model(x): x is [tokens, width] row-major, any tokens from 0 to maxTokens; y has the same
   * shape. Calls made while one runs wait their turn.
   */
  async forward(x: Float32Array, options: ForwardOptions = {}): Promise<Float32Array> {
    if (this.disposed) throw new MoecRuntimeError('disposed', `${this.info.name} was disposed; load it again to run it`);
    if (this.lost) throw this.lost;
    const { width, name } = this.info;
    if (!(x instanceof Float32Array)) throw new InputError(`${name}.forward: x must be a Float32Array of tokens × ${width} values`);
    if (x.length % width) throw new InputError(`${name}.forward: x has ${x.length} values, not a whole number of ${width}-wide tokens (the model width is ${width})`);
    const tokens = x.length / width;
    if (tokens > this.maxTokens) throw new InputError(`${name}.forward: ${tokens} tokens exceed maxTokens ${this.maxTokens}; split the input, or load with a larger maxTokens (at most ${this.info.maxTokens})`);
    const bad = firstNonFinite(x);
    if (bad >= 0) throw new InputError(`${name}.forward: x holds ${x[bad]} at index ${bad} (token ${Math.floor(bad / width)}, column ${bad % width}): inputs must be finite`);
    const extra = perToken(name, tokens, options, this.info.needs);
    try {
      return await this.runner.run({ x, tokens, ...extra });
    } catch (e) {
      throw this.lost ?? e;
    }
  }

  /** Free every GPU buffer (and the device, when load opened it). The model cannot run afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runner.destroy();
    if (this.ownsDevice) this.device.destroy();
  }

  /**
   * Compile the program on `device` and stream the weights in (see loadCompiled, which checks
   * the options, opens the device and destroys it on failure when it opened it).
   */
  static async create(info: ModelInfo, program: Program, weights: WeightsSource, options: LoadOptions, device: GPUDevice, ownsDevice: boolean): Promise<CompiledModel> {
    const maxTokens = options.maxTokens ?? info.maxTokens;
    checkLimits(program, device, maxTokens);
    const stream = await openSource(weights);
    let runner: WebGpuRunner;
    try {
      runner = await WebGpuRunner.create(device, program, streamWeights(stream, program, options.onProgress), { maxTokens });
    } catch (e) {
      throw e instanceof SafetensorsError ? new WeightsError(`${stream.label}: ${e.message}`) : e;
    } finally {
      await stream.close();
    }
    return new CompiledModel(info, device, runner, ownsDevice);
  }
}

function checkMaxTokens(info: ModelInfo, options: LoadOptions): void {
  const maxTokens = options.maxTokens ?? info.maxTokens;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1 || maxTokens > info.maxTokens) {
    throw new InputError(`load ${info.name}: maxTokens must be a whole number from 1 to ${info.maxTokens} (the compiled limit; recompile with --max-tokens for more), got ${maxTokens}`);
  }
}

/**
 * Open a compiled program (its .program.json, or the f16 twin where `options.arithmetic` and
 * the device allow), then the model: what a generated module's `load` calls.
 */
export async function loadCompiled(programs: URL | CompiledPrograms, info: ModelInfo, weights: WeightsSource, options: LoadOptions = {}): Promise<CompiledModel> {
  const { f32, f16 } = programs instanceof URL ? { f32: programs, f16: undefined } : programs;
  if (options.arithmetic !== undefined && options.arithmetic !== 'f32' && options.arithmetic !== 'f16') throw new InputError(`load ${info.name}: arithmetic must be 'f32' or 'f16', got ${String(options.arithmetic)}`);
  if (options.arithmetic === 'f16' && !f16) throw new InputError(`load ${info.name}: arithmetic 'f16' needs a module compiled with --arithmetic f16`);
  checkMaxTokens(info, options);
  const device = options.device ?? (await openDevice()).device;
  try {
    const hasF16 = device.features.has('shader-f16');
    if (options.arithmetic === 'f16' && !hasF16) throw new LimitsError(`load ${info.name}: arithmetic 'f16' needs a device with shader-f16, and this one has none; load with arithmetic 'f32'`);
    // Unasked, f16 runs where it pays: on a GPU, not on a CPU rasteriser (slower there: docs/perf.md).
    const software = isSoftwareAdapter(describeAdapter((device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo));
    const url = f16 && hasF16 && (options.arithmetic === 'f16' || (options.arithmetic === undefined && !software)) ? f16 : f32;
    const program = await readProgram(url, info);
    return await CompiledModel.create(info, program, weights, options, device, !options.device);
  } catch (e) {
    if (!options.device) device.destroy();
    throw e;
  }
}

async function readProgram(url: URL, info: ModelInfo): Promise<Program> {
  const stream = await openByteStream(url).catch((e: unknown) => {
    throw e instanceof SourceError ? new MoecRuntimeError('weights', `${info.name}: cannot read its compiled program: ${e.message}`) : e;
  });
  const chunks: Uint8Array[] = [];
  for (let piece = await stream.read(1 << 20); piece.length; piece = await stream.read(1 << 20)) chunks.push(piece.slice());
  await stream.close();
  return parseProgramJson(new TextDecoder().decode(concat(chunks)));
}

async function openSource(weights: WeightsSource) {
  try {
    return await openByteStream(weights);
  } catch (e) {
    throw e instanceof SourceError ? new WeightsError(e.message) : e;
  }
}

/** Fail before allocating when a buffer or a kernel's bindings exceed the device's limits, saying what fits. */
function checkLimits(program: Program, device: GPUDevice, maxTokens: number): void {
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  let fits = Infinity;
  for (const slot of program.slots) {
    if (slotBytes(slot, 0) > limit) {
      const names = program.buffers.filter((b) => b.slot === slot.id).map((b) => b.name);
      throw new LimitsError(`${program.name} needs a ${slotBytes(slot, 0)}-byte buffer (${names.join(', ')}), and this device binds at most ${limit} bytes: compile for a smaller binding size, or use an adapter with larger limits`);
    }
    if (slot.bytes.a > 0) fits = Math.min(fits, Math.floor((limit - slot.bytes.b) / slot.bytes.a));
  }
  if (maxTokens > fits) throw new LimitsError(`${program.name} at ${maxTokens} tokens needs buffers larger than this device binds (${limit} bytes); load with maxTokens ≤ ${fits}`);
  const bindings = device.limits.maxStorageBuffersPerShaderStage;
  const widest = program.kernels.reduce((a, k) => (k.params.length > a.params.length ? k : a), program.kernels[0]!);
  if (widest && widest.params.length > bindings) throw new LimitsError(`kernel ${widest.name} binds ${widest.params.length} storage buffers, and this device allows ${bindings} per shader stage: use an adapter with a higher maxStorageBuffersPerShaderStage`);
}

function perToken(name: string, tokens: number, options: ForwardOptions, needs: ModelInfo['needs']): { ids?: Int32Array; requests?: Int32Array } {
  const out: { ids?: Int32Array; requests?: Int32Array } = {};
  for (const key of ['ids', 'requests'] as const) {
    const given = options[key];
    if (!needs.includes(key)) continue;
    if (given === undefined) {
      if (key === 'ids') throw new InputError(`${name}.forward: the model routes by token id: pass { ids } (an Int32Array of ${tokens} token ids)`);
      out.requests = new Int32Array(tokens);
      continue;
    }
    if (!(given instanceof Int32Array) || given.length !== tokens) throw new InputError(`${name}.forward: ${key} must be an Int32Array with one value per token (${tokens})`);
    out[key] = given;
  }
  return out;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
