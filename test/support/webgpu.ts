/// <reference types="@webgpu/types" />
import { formatAdapter, NoAdapterError, openDevice, type OpenDeviceOptions, type OpenedDevice } from '../../src/runtime/webgpu/device.js';

/**
 * WebGPU for tests. `openTestDevice()` gives a device, or undefined when this machine has no
 * WebGPU adapter, so a suite can `describe.skipIf(!gpu)`. Under CI=true a missing adapter is a
 * failure, never a skip: CI installs lavapipe (.ci/run, DESIGN.md §5).
 */

export interface TestGpu extends OpenedDevice {
  /** Counts the device's dispatches, submits, readbacks and uploads from the moment it was opened. */
  counter: GpuCounter;
}

/** Why WebGPU tests are skipped on this machine (empty when they run). */
export let gpuSkipReason = '';

const opened = new Map<string, Promise<TestGpu | undefined>>();

/** One device per options per test process (vitest runs each test file in its own). */
export function openTestDevice(options: Omit<OpenDeviceOptions, 'gpu'> = {}): Promise<TestGpu | undefined> {
  const key = JSON.stringify(options);
  let p = opened.get(key);
  if (!p) {
    p = open(options);
    opened.set(key, p);
  }
  return p;
}

async function open(options: Omit<OpenDeviceOptions, 'gpu'>): Promise<TestGpu | undefined> {
  try {
    const gpu = await openDevice(options);
    return { ...gpu, counter: countGpuWork(gpu.device) };
  } catch (e) {
    if (!(e instanceof NoAdapterError)) throw e;
    if (process.env.CI === 'true') throw new Error(`CI=true and WebGPU tests cannot run: ${e.message}`, { cause: e });
    gpuSkipReason = `skipping WebGPU tests: ${e.message}`;
    console.warn(gpuSkipReason);
    return undefined;
  }
}

/** A suite title that says which adapter ran it, or why it was skipped. */
export function gpuSuiteTitle(title: string, gpu: TestGpu | undefined): string {
  return gpu ? `${title} (${formatAdapter(gpu.adapter)})` : `${title} (${gpuSkipReason})`;
}

export interface GpuCounts {
  /** queue.submit calls, and the command buffers they carried. */
  submits: number;
  commandBuffers: number;
  /** Compute passes begun. */
  passes: number;
  /** dispatchWorkgroups and dispatchWorkgroupsIndirect calls (the latter also counted alone). */
  dispatches: number;
  indirectDispatches: number;
  /** mapAsync calls: every way a result comes back to the host. */
  readbacks: number;
  /** queue.writeBuffer calls: uploads from the host. */
  writes: number;
}

export class GpuCounter {
  counts: GpuCounts = GpuCounter.zero();

  private static zero(): GpuCounts {
    return { submits: 0, commandBuffers: 0, passes: 0, dispatches: 0, indirectDispatches: 0, readbacks: 0, writes: 0 };
  }

  reset(): void {
    this.counts = GpuCounter.zero();
  }

  /** The counts so far, then start again from zero. */
  take(): GpuCounts {
    const c = this.counts;
    this.reset();
    return c;
  }
}

const counters = new WeakMap<GPUDevice, GpuCounter>();

/**
 * Count the work a device is given. The device's own objects are wrapped (its command encoders,
 * their compute passes, its queue, its buffers), not the prototypes, so only this device is
 * counted. Buffers created before the call are not seen: install it first, as openTestDevice does.
 */
export function countGpuWork(device: GPUDevice): GpuCounter {
  const existing = counters.get(device);
  if (existing) return existing;
  const counter = new GpuCounter();
  counters.set(device, counter);

  const createCommandEncoder = device.createCommandEncoder.bind(device);
  device.createCommandEncoder = (descriptor?: GPUCommandEncoderDescriptor) => {
    const encoder = createCommandEncoder(descriptor);
    const beginComputePass = encoder.beginComputePass.bind(encoder);
    encoder.beginComputePass = (passDescriptor?: GPUComputePassDescriptor) => {
      counter.counts.passes++;
      const pass = beginComputePass(passDescriptor);
      const dispatch = pass.dispatchWorkgroups.bind(pass);
      const indirect = pass.dispatchWorkgroupsIndirect.bind(pass);
      pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => {
        counter.counts.dispatches++;
        dispatch(x, y, z);
      };
      pass.dispatchWorkgroupsIndirect = (buffer: GPUBuffer, offset: number) => {
        counter.counts.dispatches++;
        counter.counts.indirectDispatches++;
        indirect(buffer, offset);
      };
      return pass;
    };
    return encoder;
  };

  const queue = device.queue;
  const submit = queue.submit.bind(queue);
  queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
    const list = [...buffers];
    counter.counts.submits++;
    counter.counts.commandBuffers += list.length;
    submit(list);
  };
  const writeBuffer = queue.writeBuffer.bind(queue) as (...args: unknown[]) => void;
  queue.writeBuffer = ((...args: unknown[]) => {
    counter.counts.writes++;
    writeBuffer(...args);
  }) as GPUQueue['writeBuffer'];
  if (device.queue !== queue) throw new Error('internal: this WebGPU implementation hands out a new queue object per access; count submits another way');

  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = createBuffer(descriptor);
    const mapAsync = buffer.mapAsync.bind(buffer);
    buffer.mapAsync = (mode: GPUMapModeFlags, offset?: number, size?: number) => {
      counter.counts.readbacks++;
      return mapAsync(mode, offset, size);
    };
    return buffer;
  };
  return counter;
}
