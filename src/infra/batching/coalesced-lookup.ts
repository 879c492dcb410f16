// A lookup many callers ask for at once, made at most one at a time: asks that come while one is
// in flight (or in the same tick) become the next one. The dispatcher's last look at the opt-outs
// before a send is one (however many chunks ask: a chunk's messages, single messages that waited
// at the connector gate), the claim-unit fence right before a submit another, and the reply
// router's commit of the batches of every partition of a fetch a third. The lookup's recent
// latency is kept so a chunk can start its look early enough (one lookup to wait for, one of its
// own) that the answer is in when its tokens are due. Pure: the lookup is handed in.

export interface ProbeResult<R = Set<string>> {
  /** What the lookup found (for every item in the same lookup; callers pick their own). */
  found: R;
  /** When the lookup started: what it saw is at least this recent. */
  at: number;
}

interface Request<T, R> {
  items: T[];
  resolve: (r: ProbeResult<R>) => void;
  reject: (err: unknown) => void;
}

export class CoalescedLookup<T extends { id: string }, R = Set<string>> {
  private queue: Request<T, R>[] = [];
  private scheduled = false;
  private busy = false;
  /** Smoothed latency of a lookup, ms. */
  private latency = 5;

  private readonly now: () => number;
  private readonly maxLeadMs: number;
  private readonly none: () => R;

  constructor(
    private readonly lookup: (items: T[]) => Promise<R>,
    opts: {
      /** The clock (tests). */
      now?: () => number;
      /** Longest lead `leadMs` gives. */
      maxLeadMs?: number;
      /** The answer to an empty ask (never looked up); an empty Set by default. */
      none?: () => R;
    } = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxLeadMs = opts.maxLeadMs ?? 250;
    this.none = opts.none ?? (() => new Set<string>() as R);
  }

  /** How long before a send its look should start so the answer is in by then. */
  get leadMs(): number {
    return Math.min(this.maxLeadMs, Math.max(2, Math.ceil(this.latency * 2) + 1));
  }

  check(items: T[]): Promise<ProbeResult<R>> {
    if (!items.length) return Promise.resolve({ found: this.none(), at: this.now() });
    return new Promise<ProbeResult<R>>((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled || this.busy || !this.queue.length) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    this.busy = true;
    const unique = new Map<string, T>();
    for (const r of batch) for (const i of r.items) unique.set(i.id, i);
    const at = this.now();
    try {
      const found = await this.lookup([...unique.values()]);
      this.latency = 0.8 * this.latency + 0.2 * Math.max(0, this.now() - at);
      for (const r of batch) r.resolve({ found, at });
    } catch (err) {
      for (const r of batch) r.reject(err);
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}
