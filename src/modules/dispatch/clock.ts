// The dispatcher's sense of time, injected: every part reads the clock and sleeps through this, so a
// unit spec drives time by hand instead of waiting for it. `precise` is the wall clock with
// sub-millisecond resolution (send times are reserved in fractions of a millisecond).

export interface Clock {
  /** Epoch ms. */
  now(): number;
  /** Epoch ms with sub-millisecond resolution. */
  precise(): number;
  /** Resolves after `ms` (at once for ms ≤ 0). */
  sleep(ms: number): Promise<void>;
  /** Calls `fn` after `ms`; returns a cancel function. The timer never keeps the process alive. */
  after(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  precise: () => performance.timeOrigin + performance.now(),
  sleep: (ms) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms))),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return () => clearTimeout(t);
  },
};

/** A clock a spec moves by hand: `advance(ms)` runs what fell due, in time order. */
export class ManualClock implements Clock {
  private t: number;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return Math.floor(this.t);
  }

  precise(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((r) => this.after(ms, r));
  }

  after(ms: number, fn: () => void): () => void {
    const id = ++this.seq;
    this.timers.push({ at: this.t + Math.max(0, ms), fn, id });
    return () => (this.timers = this.timers.filter((x) => x.id !== id));
  }

  /** Moves time forward, running timers as they fall due (and the promises they settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}
