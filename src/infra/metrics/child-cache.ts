// A metric's child per set of label values, found again by one string key. prom-client validates
// and hashes the label object on every inc() and observe(); on a path that counts every message
// (submits, receipts) that cost more than the counting itself. Pure.

export class ChildCache<C> {
  private readonly children = new Map<string, C>();

  constructor(private readonly make: (labels: Record<string, string>) => C) {}

  /** The child for `labels`, made once per distinct `key` (which must identify the labels). */
  get(key: string, labels: () => Record<string, string>): C {
    let c = this.children.get(key);
    if (c === undefined) {
      // Label sets come from configuration (carriers, connectors), so they stay few; a cap guards
      // against a caller passing something unbounded.
      if (this.children.size > 10_000) this.children.clear();
      c = this.make(labels());
      this.children.set(key, c);
    }
    return c;
  }
}
