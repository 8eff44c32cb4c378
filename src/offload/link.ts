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

/**
 * A load on the link, the handle a slot keeps. `index` is its place among the prefetches not
 * yet started; -1 once it has started, or for a demand load (whose time never changes: nothing
 * is ever put before it).
 */
export interface Load {
  cost: number;
  bytes: number;
  /** When its bytes are on the device; for a waiting prefetch, valid only while `index < valid`. */
  end: number;
  index: number;
  cancelled: boolean;
}

/**
 * The link's schedule has two parts. Started transfers and demand loads have fixed times;
 * only the end of the last one, `fixedEnd`, matters. After them come the prefetches that have
 * not started, back to back from `fixedEnd`: a demand load put before them moves them all, a
 * cancelled one moves those behind it. Their ends are recomputed lazily, in order, when one
 * is read (the same sums, in the same order, as laying them out again at every change), so
 * a long queue of prefetches costs nothing until someone asks when one arrives.
 */
export class Link {
  private fixedEnd = -Infinity;
  /** Prefetches not yet started, in link order, from `head` on (cancelled ones stay, skipped). */
  private waiting: Load[] = [];
  private head = 0;
  /** Ends of waiting[head .. valid - 1] are up to date. */
  private valid = 0;
  /** Cancelled prefetches still in `waiting`. */
  private cancelled = 0;
  bytesMoved = 0;

  constructor(readonly model: LinkModel) {}

  private cost(bytes: number): number {
    return this.model.latency + bytes / this.model.bandwidth;
  }

  /** Start the prefetches whose turn has come by `now`: each starts when the one before it ends. */
  private advance(now: number): void {
    while (this.head < this.waiting.length) {
      const x = this.waiting[this.head]!;
      if (x.cancelled) {
        this.head++;
        continue;
      }
      if (this.fixedEnd > now) break;
      x.end = this.fixedEnd + x.cost;
      x.index = -1;
      this.fixedEnd = x.end;
      this.head++;
    }
    if (this.valid < this.head) this.valid = this.head;
  }

  /** Bring the ends of the waiting prefetches up to date up to index `upTo` (exclusive). */
  private settle(upTo: number): void {
    let free = this.fixedEnd;
    for (let i = this.valid - 1; i >= this.head; i--) {
      if (!this.waiting[i]!.cancelled) {
        free = this.waiting[i]!.end;
        break;
      }
    }
    for (let i = this.valid; i < upTo; i++) {
      const x = this.waiting[i]!;
      if (x.cancelled) continue;
      x.end = free + x.cost;
      free = x.end;
    }
    if (upTo > this.valid) this.valid = upTo;
  }

  /** When the load of a slot arrives (Infinity for a slot with none). */
  arrival(slot: Slot): number {
    const x = slot.load;
    if (!x) return Infinity;
    if (x.index >= this.valid) this.settle(x.index + 1);
    return x.end;
  }

  /**
   * Whether the load of a slot has arrived by `now` (the link's clock never goes back). A
   * prefetch that has not started has not, and its end need not be worked out.
   */
  arrivedBy(slot: Slot, now: number): boolean {
    this.advance(now);
    const x = slot.load;
    return x !== undefined && x.index < 0 && x.end <= now;
  }

  /** Queue a demand load of `slot` at time `now`: before every waiting prefetch (they all move back). Returns its arrival. */
  demand(now: number, bytes: number, slot: Slot): number {
    this.advance(now);
    const x = this.load(bytes, slot);
    x.end = Math.max(this.fixedEnd, now) + x.cost;
    this.fixedEnd = x.end;
    this.valid = this.head;
    return x.end;
  }

  /** Queue a prefetch of `slot` at time `now`, behind everything queued; `arrival` says when it comes. */
  prefetch(now: number, bytes: number, slot: Slot): void {
    this.advance(now);
    const x = this.load(bytes, slot);
    if (this.head === this.waiting.length && this.fixedEnd <= now) {
      // The link is free: it starts at once.
      x.end = now + x.cost;
      this.fixedEnd = x.end;
      return;
    }
    x.index = this.waiting.length;
    this.waiting.push(x);
  }

  private load(bytes: number, slot: Slot): Load {
    const x: Load = { cost: this.cost(bytes), bytes, end: Infinity, index: -1, cancelled: false };
    slot.load = x;
    this.bytesMoved += bytes;
    return x;
  }

  /** When a demand load queued now would arrive (after the started and the demand loads). */
  demandArrival(now: number, bytes: number): number {
    this.advance(now);
    return Math.max(now, this.fixedEnd) + this.cost(bytes);
  }

  /** When a prefetch queued now would arrive (after everything queued). */
  prefetchArrival(now: number, bytes: number): number {
    this.advance(now);
    this.settle(this.waiting.length);
    let last = this.fixedEnd;
    for (let i = this.waiting.length - 1; i >= this.head; i--) {
      if (!this.waiting[i]!.cancelled) {
        last = this.waiting[i]!.end;
        break;
      }
    }
    return Math.max(now, last) + this.cost(bytes);
  }

  /** The slot's expert was given up: a load of it that has not started is dropped. */
  cancel(now: number, slot: Slot): void {
    this.advance(now);
    const x = slot.load;
    if (!x || x.index < 0 || x.cancelled) return;
    x.cancelled = true;
    this.bytesMoved -= x.bytes;
    if (x.index < this.valid) this.valid = x.index;
    if (++this.cancelled > 64 && 2 * this.cancelled > this.waiting.length - this.head) this.compact();
  }

  /** Drop the cancelled and started prefetches from the list, once they are most of it. */
  private compact(): void {
    this.settle(this.waiting.length);
    this.waiting = this.waiting.slice(this.head).filter((x) => !x.cancelled);
    this.waiting.forEach((x, i) => (x.index = i));
    this.head = 0;
    this.valid = this.waiting.length;
    this.cancelled = 0;
  }

  /** A new request starts with an idle link. */
  reset(): void {
    this.fixedEnd = -Infinity;
    this.waiting = [];
    this.head = 0;
    this.valid = 0;
    this.cancelled = 0;
  }
}
