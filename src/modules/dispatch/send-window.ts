// A second line behind the buckets: what this process actually sent per bucket over the last
// second. Reservations keep every window under the cap as long as chunks leave on time; a process
// that stalls (GC, a saturated CPU) sends late, and late chunks could bunch with the next ones. The
// window makes a chunk wait instead whenever sending it now would put this process's own last
// second over the limit. Pure.

export class SendWindow {
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private sum = 0;

  constructor(readonly windowMs = 1000) {}

  /** Milliseconds to wait before `amount` more may leave at `now` without exceeding `limit`. */
  waitFor(now: number, amount: number, limit: number): number {
    this.evict(now);
    let excess = this.sum + amount - limit;
    if (excess <= 0) return 0;
    // Wait until enough of the oldest sends have left the window.
    for (let i = this.head; i < this.times.length; i++) {
      excess -= this.amounts[i];
      if (excess <= 0) return Math.max(0, this.times[i] + this.windowMs - now);
    }
    // More than the limit in one go (a lump): wait until the window is empty.
    return Math.max(0, this.times[this.times.length - 1] + this.windowMs - now);
  }

  add(now: number, amount: number): void {
    this.evict(now);
    this.times.push(now);
    this.amounts.push(amount);
    this.sum += amount;
  }

  /** Sent within the window ending at `now` (a window includes its end, not its start). */
  count(now: number): number {
    this.evict(now);
    return this.sum;
  }

  private evict(now: number) {
    while (this.head < this.times.length && this.times[this.head] <= now - this.windowMs) {
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
