// A size-bounded memo for hot lookups (numbers seen again and again by imports and sends). Two
// generations instead of evicting the oldest entry one by one: deleting from the front of a Map
// leaves tombstones that every later "oldest key" lookup walks over, which made a full cache
// slower than no cache at all.
export class BoundedCache<K, V> {
  private current = new Map<K, V>();
  private previous = new Map<K, V>();

  /** Holds between `generation` and twice that many entries. */
  constructor(private readonly generation: number) {}

  get(key: K): V | undefined {
    const v = this.current.get(key);
    if (v !== undefined) return v;
    const old = this.previous.get(key);
    // Still in use: carry it into the current generation so it outlives the next turn.
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: K, value: V): void {
    if (this.current.size >= this.generation) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }
}
