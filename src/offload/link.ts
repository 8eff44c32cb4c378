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
  /**
   * Transfers not yet complete, in link order: started ones, then waiting demand loads, then
   * waiting prefetches. Each one's slot.arrival is its end; ends only grow along the queue,
   * so finished transfers are a prefix.
   */
  private queue: Transfer[] = [];
  /** Waiting transfers by slot, for cancelling. */
  private readonly waiting = new Map<Slot, Transfer>();
  bytesMoved = 0;

  constructor(readonly model: LinkModel) {}

  private cost(bytes: number): number {
    return this.model.latency + bytes / this.model.bandwidth;
  }

  /** Drop finished transfers and forget the waiting state of those that have started. */
  private advance(now: number): void {
    let done = 0;
    while (done < this.queue.length && this.queue[done]!.end <= now) done++;
    if (done > 0) this.queue.splice(0, done);
    for (const x of this.queue) {
      if (x.start > now) break;
      this.waiting.delete(x.slot);
    }
  }

  /** Lay transfers out again from index `from` on, each right after the one before it. */
  private relayFrom(from: number, now: number): void {
    let free = from > 0 ? this.queue[from - 1]!.end : now;
    for (let i = from; i < this.queue.length; i++) {
      const x = this.queue[i]!;
      x.start = Math.max(free, now);
      x.end = x.slot.arrival = x.start + this.cost(x.bytes);
      free = x.end;
    }
  }

  /** Where a demand load queued now goes: after the started transfers and the waiting demand loads. */
  private demandPosition(now: number): number {
    let i = this.queue.length;
    while (i > 0 && !this.queue[i - 1]!.demand && this.queue[i - 1]!.start > now) i--;
    return i;
  }

  /** Queue the load of `slot` at time `now`; sets and returns its arrival. */
  transfer(now: number, bytes: number, slot: Slot, demand: boolean): number {
    this.advance(now);
    const x: Transfer = { bytes, slot, demand, start: Infinity, end: Infinity };
    const at = demand ? this.demandPosition(now) : this.queue.length;
    this.queue.splice(at, 0, x);
    this.waiting.set(slot, x);
    this.relayFrom(at, now);
    this.bytesMoved += bytes;
    return slot.arrival;
  }

  /** When a demand load queued now would arrive (after the started and the demand loads). */
  demandArrival(now: number, bytes: number): number {
    this.advance(now);
    const at = this.demandPosition(now);
    return Math.max(now, at > 0 ? this.queue[at - 1]!.end : now) + this.cost(bytes);
  }

  /** When a prefetch queued now would arrive (after everything queued). */
  prefetchArrival(now: number, bytes: number): number {
    this.advance(now);
    return Math.max(now, this.queue.length ? this.queue[this.queue.length - 1]!.end : now) + this.cost(bytes);
  }

  /** The slot's expert was given up: a load of it that has not started is dropped. */
  cancel(now: number, slot: Slot): void {
    this.advance(now);
    const x = this.waiting.get(slot);
    if (!x || x.start <= now) return;
    this.waiting.delete(slot);
    const i = this.queue.indexOf(x);
    this.queue.splice(i, 1);
    this.bytesMoved -= x.bytes;
    this.relayFrom(i, now);
  }

  /** A new request starts with an idle link. */
  reset(): void {
    this.queue = [];
    this.waiting.clear();
  }
}
