// How many submits the dispatcher hands one connector at once: no more than the connector's window,
// so what waits, waits here, where a transactional message goes ahead of every bulk one (inside
// the connector, a queue of bulk submits would be served first come, first served). A chunk takes
// its slots all at once or not at all: chunks each holding part of what they need would wait for
// each other for ever. Pure.
import type { LaneClass } from './carrier-lane';

interface Waiter {
  n: number;
  resolve: () => void;
}

export class SubmitGate {
  private used = 0;
  private readonly waiting: Record<LaneClass, Waiter[]> = { priority: [], bulk: [] };

  constructor(readonly slots: number) {}

  /** Submits holding a slot. */
  get inUse(): number {
    return this.used;
  }

  /** Slots asked for and not yet granted (for the stage log). */
  get queued(): number {
    return [...this.waiting.priority, ...this.waiting.bulk].reduce((s, w) => s + w.n, 0);
  }

  /**
   * Resolves when `n` slots (at most the gate's size) are held together; priority waiters are let
   * in before any bulk one, each class in order. Undefined: held at once.
   */
  acquire(cls: LaneClass, n = 1): Promise<void> | undefined {
    const want = Math.min(Math.max(1, n), this.slots);
    if (
      this.used + want <= this.slots &&
      !this.waiting.priority.length &&
      (cls === 'priority' || !this.waiting.bulk.length)
    ) {
      this.used += want;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting[cls].push({ n: want, resolve }));
  }

  release(n = 1): void {
    this.used -= n;
    this.admit();
  }

  private admit() {
    for (;;) {
      const cls: LaneClass | undefined = this.waiting.priority.length
        ? 'priority'
        : this.waiting.bulk.length
          ? 'bulk'
          : undefined;
      if (!cls) return;
      const next = this.waiting[cls][0];
      if (this.used + next.n > this.slots) return;
      this.waiting[cls].shift();
      this.used += next.n;
      next.resolve();
    }
  }
}
