// Aggregates that cost more the more rows they cover (a campaign's counts by status, over every one
// of its messages) are reused for as long as the caller says they may be old, and concurrent
// callers share one load: however often dashboards poll a million-message campaign, its messages
// are grouped at most once per that age. Pure: the clock is passed in.

interface Entry<V> {
  value: Promise<V>;
  /** When its load finished; undefined while it is still loading (callers share it). */
  loadedAt?: number;
}

export class AggregateCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(
    private readonly maxEntries = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value for key, loaded at most `maxAgeMs` ago (counted from when its load finished). */
  get(key: string, maxAgeMs: number, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && (hit.loadedAt === undefined || this.now() - hit.loadedAt < maxAgeMs)) return hit.value;
    this.entries.delete(key);
    // Full: drop the oldest insertions (a Map iterates in insertion order).
    for (const k of this.entries.keys()) {
      if (this.entries.size < this.maxEntries) break;
      this.entries.delete(k);
    }
    const entry: Entry<V> = { value: load() };
    this.entries.set(key, entry);
    entry.value.then(
      () => (entry.loadedAt = this.now()),
      // A failed load is not kept: the next caller tries again.
      () => this.entries.get(key) === entry && this.entries.delete(key),
    );
    return entry.value;
  }

  /** The next get loads afresh (a change the caller knows about, such as a pause). */
  forget(key: string): void {
    this.entries.delete(key);
  }
}
