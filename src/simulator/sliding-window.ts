// Segments counted over a sliding one-second window (any window, not fixed clock seconds, so a
// burst at a second's edge cannot pass twice the cap), with the peak ever seen in one window.

export class SlidingWindow {
  // Ring of [time, amount]; entries older than the window are dropped from the head.
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private sum = 0;
  /** The most segments seen in any one window so far. */
  peak = 0;

  constructor(readonly windowMs = 1000) {}

  /** Segments in the window ending at `now` (exclusive of what happened exactly windowMs ago). */
  count(now: number): number {
    this.evict(now);
    return this.sum;
  }

  /** Records `amount` at `now` when the window stays within `cap`; false (nothing recorded) if not. */
  tryAdd(now: number, amount: number, cap: number): boolean {
    if (this.count(now) + amount > cap) return false;
    this.add(now, amount);
    return true;
  }

  add(now: number, amount: number): void {
    this.evict(now);
    this.times.push(now);
    this.amounts.push(amount);
    this.sum += amount;
    // The largest window total always ends on an arrival, so checking here finds the true peak.
    if (this.sum > this.peak) this.peak = this.sum;
  }

  reset(): void {
    this.times = [];
    this.amounts = [];
    this.head = 0;
    this.sum = 0;
    this.peak = 0;
  }

  private evict(now: number) {
    const from = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head] <= from) {
      this.sum -= this.amounts[this.head];
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.amounts = this.amounts.slice(this.head);
      this.head = 0;
    }
  }
}
