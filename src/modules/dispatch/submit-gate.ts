// How many submits the dispatcher hands one connector at once: no more than the connector's window,
// so what waits, waits here, where a transactional message goes ahead of every bulk one (inside
// the connector, a queue of bulk submits would be served first come, first served). Pure.
import type { LaneClass } from './carrier-lane';

export class SubmitGate {
  private used = 0;
  private readonly waiting: Record<LaneClass, (() => void)[]> = { priority: [], bulk: [] };

  constructor(private readonly slots: number) {}

  /** Submits holding a slot. */
  get inUse(): number {
    return this.used;
  }

  /** Waiters per class (for the stage log). */
  get queued(): number {
    return this.waiting.priority.length + this.waiting.bulk.length;
  }

  /** Resolves when a slot is held; priority waiters are let in before any bulk one. */
  acquire(cls: LaneClass): Promise<void> | undefined {
    if (
      this.used < this.slots &&
      !this.waiting.priority.length &&
      (cls === 'priority' || !this.waiting.bulk.length)
    ) {
      this.used++;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiting[cls].push(resolve));
  }

  release(): void {
    this.used--;
    this.admit();
  }

  private admit() {
    while (this.used < this.slots) {
      const next = this.waiting.priority.shift() ?? this.waiting.bulk.shift();
      if (!next) return;
      this.used++;
      next();
    }
  }
}
