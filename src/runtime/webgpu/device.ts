/// <reference types="@webgpu/types" />
import { NoAdapterError } from './errors.js';

/**
 * Opening a WebGPU device: the browser's `navigator.gpu`, or in Node the `webgpu` package
 * (Dawn), which on a machine without a GPU runs on Mesa's lavapipe Vulkan driver (DESIGN.md §5).
 * Browser-safe: Node modules are imported only on the Node path, when first needed.
 */

export { NoAdapterError };

/** How to get an adapter, for the no-adapter error. */
const ADAPTER_HELP =
  'In a browser, use one with WebGPU enabled (Chrome or Edge 113+, or Chromium with --enable-unsafe-webgpu). ' +
  "In Node, install the optional 'webgpu' package (npm install webgpu) and a Vulkan driver; on a Linux machine " +
  'without a GPU that is Mesa lavapipe (Debian 12: mesa-vulkan-drivers and libvulkan1 from bookworm-backports, see DESIGN.md §5).';

/** What the adapter says about itself, for logs and for choosing a schedule (`scheduleFor`). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The device's subgroup sizes, when it was created with subgroups. */
  subgroups?: { min: number; max: number };
}

/** The limits moec raises to the adapter's maximum (the WebGPU defaults are far lower). */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
] as const;

/** Optional features moec uses when the adapter has them. */
const WANTED_FEATURES = ['subgroups', 'timestamp-query', 'shader-f16'] as const;
export type WantedFeature = (typeof WANTED_FEATURES)[number];

export interface OpenedDevice {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** The wanted features the device was created with. */
  features: WantedFeature[];
  /** The raised limits as granted. */
  limits: Record<(typeof RAISED_LIMITS)[number], number>;
}

export interface OpenDeviceOptions {
  /** A GPU object to use instead of the `webgpu` package's (a browser's `navigator.gpu`, say). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** The optional features to ask for when the adapter has them (default: all of them). */
  features?: readonly WantedFeature[];
  /**
   * Lower this thread's scheduling priority after the device exists (default true, Node only).
   * The binding busy-polls the main thread while a GPU promise is pending; on lavapipe that
   * thread competes with the driver's worker threads, and lowering it made kernels 60–70 %
   * faster. It is done after the device is created so that the driver's threads, which inherit
   * the priority of the thread that creates them, keep the normal one.
   */
  lowerPriority?: boolean;
}

/**
 * The GPU object from the `webgpu` package. Held for the life of the process on purpose: if it
 * is garbage-collected, the process aborts later (DESIGN.md §5).
 */
let nodeGpu: GPU | undefined;

async function loadNodeGpu(): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  let mod: { create(flags: string[]): GPU };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new NoAdapterError(`WebGPU is unavailable: the 'webgpu' package could not be loaded (${(e as Error).message}). ${ADAPTER_HELP}`);
  }
  // Exact timestamps: Dawn rounds timestamp queries to 64 µs steps unless told not to, which
  // makes per-dispatch profiles useless. This process is not a browser page, so there is
  // nothing to hide from.
  nodeGpu = mod.create(['disable-dawn-features=timestamp_quantization']);
  return nodeGpu;
}

export function describeAdapter(info: GPUAdapterInfo | undefined): AdapterDescription {
  return { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', device: info?.device ?? '', description: info?.description ?? '' };
}

/** One line for logs: "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa/software]". */
export function formatAdapter(a: AdapterDescription): string {
  const main = a.description || a.device || 'unknown adapter';
  const tags = [a.vendor, a.architecture].filter(Boolean).join('/');
  return tags ? `${main} [${tags}]` : main;
}

/** The browser's GPU object, when there is one. */
function browserGpu(): GPU | undefined {
  return (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
}

/** Open a device with raised limits and the wanted features the adapter has. */
export async function openDevice(options: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  const inBrowser = !options.gpu && browserGpu() !== undefined;
  const gpu = options.gpu ?? browserGpu() ?? (await loadNodeGpu());
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  if (!adapter) {
    throw new NoAdapterError(`WebGPU is unavailable: no adapter found. ${ADAPTER_HELP}`);
  }
  const features = (options.features ?? WANTED_FEATURES).filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  if ((options.lowerPriority ?? true) && !inBrowser && nodeGpu === gpu) await lowerThreadPriority();
  const limits = Object.fromEntries(RAISED_LIMITS.map((n) => [n, device.limits[n]])) as OpenedDevice['limits'];
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const subgroups = features.includes('subgroups') && info.subgroupMinSize && info.subgroupMaxSize ? { subgroups: { min: info.subgroupMinSize, max: info.subgroupMaxSize } } : {};
  return { device, adapter: { ...describeAdapter(adapter.info), ...subgroups }, features, limits };
}

async function lowerThreadPriority(): Promise<void> {
  try {
    const { setPriority } = await import('node:os');
    setPriority(0, 19);
  } catch {
    // Not permitted or not supported here: run at the normal priority.
  }
}
