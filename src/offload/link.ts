import type { Slot } from './pool.js';

/**
 * The bandwidth and latency model of the link that brings experts to the device. One
 * transfer at a time: a transfer takes `latency + bytes / bandwidth`. Demand loads (a layer
 * is waiting) go before prefetches that have not started; a started transfer runs to its
 * end. A prefetch cancelled before it starts (its slot was given up) moves no bytes.
 * Bandwidths are effective rates, below the nominal ones.
 */
export interface LinkModel {
  name: string;
  /** Bytes per second. */
  bandwidth: number;
  /** Seconds per transfer before the first byte arrives. */
  latency: number;
  description: string;
}

export const LINKS: Readonly<Record<string, LinkModel>> = {
  pcie4: { name: 'pcie4', bandwidth: 25e9, latency: 10e-6, description: 'PCIe 4.0 x16 from host memory: 25 GB/s, 10 us' },
  nvme: { name: 'nvme', bandwidth: 6e9, latency: 80e-6, description: 'a PCIe 4.0 NVMe SSD: 6 GB/s, 80 us' },
  usb3: { name: 'usb3', bandwidth: 0.4e9, latency: 150e-6, description: 'a USB 3.2 Gen 1 drive: 0.4 GB/s, 150 us' },
  /** An idealisation: what a policy's choices are worth when no load is ever late. */
  instant: { name: 'instant', bandwidth: Infinity, latency: 0, description: 'no link cost, an upper bound: every load arrives at once' },
};

interface Transfer {
  bytes: number;
  slot: Slot;
  demand: boolean;
  start: number;
  end: number;
}

export class Link {
  /** Transfers not yet complete, in link order; each one's slot.arrival is its end. */
  private queue: Transfer[] = [];
  bytesMoved = 0;

  constructor(readonly model: LinkModel) {}

  private cost(bytes: number): number {
    return this.model.latency + bytes / this.model.bandwidth;
  }

  /** Drop finished transfers and lay the unstarted ones out again: demand loads first. */
  private layout(now: number): void {
    const live = this.queue.filter((x) => x.end > now);
    const started = live.filter((x) => x.start <= now);
    const waiting = [...live.filter((x) => x.start > now && x.demand), ...live.filter((x) => x.start > now && !x.demand)];
    let free = Math.max(now, ...started.map((x) => x.end));
    for (const x of waiting) {
      x.start = free;
      x.end = x.slot.arrival = free + this.cost(x.bytes);
      free = x.end;
    }
    this.queue = [...started, ...waiting];
  }

  /** Queue the load of `slot` at time `now`; sets and returns its arrival. */
  transfer(now: number, bytes: number, slot: Slot, demand: boolean): number {
    this.queue.push({ bytes, slot, demand, start: Infinity, end: Infinity });
    this.bytesMoved += bytes;
    this.layout(now);
    return slot.arrival;
  }

  /** When a demand load queued now would arrive (after the started and the demand loads). */
  demandArrival(now: number, bytes: number): number {
    this.layout(now);
    return Math.max(now, ...this.queue.filter((x) => x.start <= now || x.demand).map((x) => x.end)) + this.cost(bytes);
  }

  /** When a prefetch queued now would arrive (after everything queued). */
  prefetchArrival(now: number, bytes: number): number {
    this.layout(now);
    return Math.max(now, ...this.queue.map((x) => x.end)) + this.cost(bytes);
  }

  /** The slot's expert was given up: a load of it that has not started is dropped. */
  cancel(now: number, slot: Slot): void {
    this.layout(now);
    const i = this.queue.findIndex((x) => x.slot === slot && x.start > now);
    if (i < 0) return;
    this.bytesMoved -= this.queue[i]!.bytes;
    this.queue.splice(i, 1);
    this.layout(now);
  }

  /** A new request starts with an idle link. */
  reset(): void {
    this.queue = [];
  }
}
