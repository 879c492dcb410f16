// A lookup many callers ask for at once, made at most one at a time: asks that come while one is
// in flight (or in the same tick) become the next one. The dispatcher's last look at the opt-outs
// before a send is one (however many chunks ask: a chunk's messages, single messages that waited
// at the connector gate), the claim-unit fence right before a submit another. The lookup's recent
// latency is kept so a chunk can start its look early enough (one lookup to wait for, one of its
// own) that the answer is in when its tokens are due. Pure: the lookup is handed in.

export interface ProbeResult {
  /** Ids the lookup found (of every item in the same lookup; callers pick their own). */
  found: Set<string>;
  /** When the lookup started: what it saw is at least this recent. */
  at: number;
}

interface Request<T> {
  items: T[];
  resolve: (r: ProbeResult) => void;
  reject: (err: unknown) => void;
}

export class CoalescedLookup<T extends { id: string }> {
  private queue: Request<T>[] = [];
  private scheduled = false;
  private busy = false;
  /** Smoothed latency of a lookup, ms. */
  private latency = 5;

  constructor(
    private readonly lookup: (items: T[]) => Promise<Set<string>>,
    private readonly now: () => number = Date.now,
    private readonly maxLeadMs = 250,
  ) {}

  /** How long before a send its look should start so the answer is in by then. */
  get leadMs(): number {
    return Math.min(this.maxLeadMs, Math.max(2, Math.ceil(this.latency * 2) + 1));
  }

  check(items: T[]): Promise<ProbeResult> {
    if (!items.length) return Promise.resolve({ found: new Set(), at: this.now() });
    return new Promise<ProbeResult>((resolve, reject) => {
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
