/// <reference types="@webgpu/types" />
import type { Kernel } from '../../codegen/kernel-ir.js';
import { printWgslKernel } from '../../codegen/wgsl/print.js';
import { SHADER_STAGE } from './constants.js';

/**
 * Kernels to compute pipelines: one shader module and one pipeline per kernel, with a bind group
 * layout derived from the kernel's params (binding 0: the token-count uniform; 1..n: the storage
 * buffers in param order), matching what the WGSL printer declares.
 */

export interface WgslMessage {
  line: number;
  col: number;
  message: string;
}

/** The WGSL printed for a kernel does not compile: names the kernel, and each error's line and column. */
export class WgslCompileError extends Error {
  override readonly name = 'WgslCompileError';
  constructor(
    readonly kernel: string,
    readonly errors: readonly WgslMessage[],
    readonly wgsl: string,
  ) {
    const lines = wgsl.split('\n');
    const shown = errors.map((e) => {
      const source = lines[e.line - 1];
      return `  ${kernel}.wgsl:${e.line}:${e.col}: error: ${e.message}${source === undefined ? '' : `\n    ${source.trim()}`}`;
    });
    super(`WGSL for kernel '${kernel}' does not compile:\n${shown.join('\n')}`);
  }
}

export interface CompiledKernel {
  kernel: Kernel;
  wgsl: string;
  layout: GPUBindGroupLayout;
  pipeline: GPUComputePipeline;
}

function bindGroupLayout(device: GPUDevice, kernel: Kernel): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = [{ binding: 0, visibility: SHADER_STAGE.COMPUTE, buffer: { type: 'uniform' } }];
  kernel.params.forEach((p, i) => {
    // The printer declares atomic params read_write whatever their access (atomics need it).
    const readOnly = p.access === 'read' && !p.atomic;
    entries.push({ binding: i + 1, visibility: SHADER_STAGE.COMPUTE, buffer: { type: readOnly ? 'read-only-storage' : 'storage' } });
  });
  return device.createBindGroupLayout({ label: kernel.name, entries });
}

/** Compile one kernel; a WGSL error becomes a WgslCompileError, any other failure names the kernel. */
export async function compileKernel(device: GPUDevice, kernel: Kernel): Promise<CompiledKernel> {
  const wgsl = printWgslKernel(kernel);
  if (kernel.params.length > device.limits.maxStorageBuffersPerShaderStage) {
    throw new Error(`kernel '${kernel.name}' binds ${kernel.params.length} storage buffers; this device allows ${device.limits.maxStorageBuffersPerShaderStage}`);
  }
  if (kernel.subgroups && !device.features.has('subgroups')) throw new Error(`kernel '${kernel.name}' needs subgroups, which this device lacks`);
  // An invalid module also raises a validation error; the compilation info reports it better.
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: kernel.name, code: wgsl });
  const [info] = await Promise.all([module.getCompilationInfo(), device.popErrorScope()]);
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => ({ line: m.lineNum, col: m.linePos, message: m.message }));
  if (errors.length) throw new WgslCompileError(kernel.name, errors, wgsl);
  const layout = bindGroupLayout(device, kernel);
  try {
    const pipeline = await device.createComputePipelineAsync({
      label: kernel.name,
      layout: device.createPipelineLayout({ label: kernel.name, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    return { kernel, wgsl, layout, pipeline };
  } catch (e) {
    throw new Error(`kernel '${kernel.name}': creating its compute pipeline failed: ${(e as Error).message}`, { cause: e });
  }
}

/** Compile every kernel (in parallel); the first failure in kernel order is thrown. */
export async function compileKernels(device: GPUDevice, kernels: readonly Kernel[]): Promise<Map<string, CompiledKernel>> {
  const results = await Promise.allSettled(kernels.map((k) => compileKernel(device, k)));
  const out = new Map<string, CompiledKernel>();
  results.forEach((r, i) => {
    if (r.status === 'rejected') throw r.reason;
    out.set(kernels[i]!.name, r.value);
  });
  return out;
}
