// Status writes of the dispatcher, batched: lanes hand over outcomes one by one and get a promise
// that resolves once the outcome is durable in Postgres (only then is its Kafka offset resolved).
// One write takes up to maxBatch of what is pending, with one statement per kind. Up to
// `concurrency` writes run at once (a write waits on Postgres round trips and a commit; one at a
// time left carrier-accepted messages piling up `submitting` behind it), but never two holding
// the same message: its changes are written in the order they came.
// A failed write is retried with backoff: an outcome is never dropped, its offset simply waits.
import type { AppliedChange, SubmittedRow } from '../messages/message-record';
import type { DecidedRow } from './dispatch-record.repository';

/** What the batcher writes through (DispatchRecordRepository). */
export interface StatusWriter {
  markSubmitted(rows: readonly Submitted[]): Promise<AppliedChange[]>;
  decide(items: readonly DecidedRow[]): Promise<AppliedChange[]>;
}

export type Submitted = SubmittedRow & { workspaceId: string };

type Decided = DecidedRow & { id: string };

interface Waiter<T> {
  item: T;
  resolve: (applied: AppliedChange | undefined) => void;
}

export interface StatusBatcherOptions {
  lingerMs: number;
  maxBatch: number;
  /** Writes in progress at once (each on its own connection); 1 when absent. */
  concurrency?: number;
  /** Called with what took effect (callbacks, metrics). */
  onApplied?: (changes: AppliedChange[]) => void | Promise<void>;
  onError?: (err: unknown, attempt: number) => void;
}

export class StatusBatcher {
  private submitted: Waiter<Submitted>[] = [];
  private changes: Waiter<Decided>[] = [];
  private timer?: NodeJS.Timeout;
  private running = 0;
  /** Ids with a write in progress: their next changes wait for it. */
  private readonly writing = new Map<string, number>();
  private readonly settled = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly repo: StatusWriter,
    private readonly opts: StatusBatcherOptions,
  ) {}

  /** The carrier took it: `submitted` with its parts. Resolves once stored. */
  markSubmitted(row: Submitted): Promise<AppliedChange | undefined> {
    return new Promise((resolve) => {
      this.submitted.push({ item: row, resolve });
      this.schedule();
    });
  }

  /** Any other status (suppressed, expired, rejected, failed, queued). Resolves once stored. */
  decide(decided: DecidedRow): Promise<AppliedChange | undefined> {
    return new Promise((resolve) => {
      this.changes.push({ item: { ...decided, id: decided.row.id }, resolve });
      this.schedule();
    });
  }

  /** Writes everything pending now and waits for it. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (;;) {
      this.startWrites();
      if (!this.running) return;
      await new Promise<void>((r) => this.settled.add(r));
    }
  }

  /** Stops retrying failed writes after the current attempt (shutdown). */
  close(): void {
    this.closed = true;
  }

  private get pending(): number {
    return this.submitted.length + this.changes.length;
  }

  private schedule() {
    if (this.pending >= this.opts.maxBatch) {
      this.startWrites();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startWrites();
    }, this.opts.lingerMs);
  }

  private startWrites() {
    const concurrency = Math.max(1, this.opts.concurrency ?? 1);
    while (this.running < concurrency && this.pending) {
      const batch = this.take();
      if (!batch.submitted.length && !batch.changes.length) return; // all wait for writes in progress
      const ids = [...batch.submitted.map((w) => w.item.id), ...batch.changes.map((w) => w.item.id)];
      for (const id of ids) this.writing.set(id, (this.writing.get(id) ?? 0) + 1);
      this.running++;
      void this.write(batch.submitted, batch.changes).finally(() => {
        this.running--;
        for (const id of ids) {
          const n = this.writing.get(id)! - 1;
          if (n) this.writing.set(id, n);
          else this.writing.delete(id);
        }
        const waiters = [...this.settled];
        this.settled.clear();
        for (const w of waiters) w();
        // What came in meanwhile is a batch already.
        if (this.pending) this.startWrites();
      });
    }
  }

  /** Up to maxBatch pending items, oldest first, none of a message whose write is in progress. */
  private take(): { submitted: Waiter<Submitted>[]; changes: Waiter<Decided>[] } {
    const room = { left: this.opts.maxBatch };
    const blocked = new Set<string>();
    const pick = <T extends { id: string }>(queue: Waiter<T>[]): [Waiter<T>[], Waiter<T>[]] => {
      const taken: Waiter<T>[] = [];
      const kept: Waiter<T>[] = [];
      for (const w of queue) {
        const id = w.item.id;
        // Once one change of a message stays behind, its later ones stay too (order per message).
        if (room.left > 0 && !this.writing.has(id) && !blocked.has(id)) {
          taken.push(w);
          room.left--;
        } else {
          blocked.add(id);
          kept.push(w);
        }
      }
      return [taken, kept];
    };
    const [submitted, keptSubmitted] = pick(this.submitted);
    const [changes, keptChanges] = pick(this.changes);
    this.submitted = keptSubmitted;
    this.changes = keptChanges;
    return { submitted, changes };
  }

  private async write(submitted: Waiter<Submitted>[], changes: Waiter<Decided>[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = [
          ...(submitted.length ? await this.repo.markSubmitted(submitted.map((w) => w.item)) : []),
          ...(changes.length ? await this.repo.decide(changes.map((w) => w.item)) : []),
        ];
        const byId = new Map(applied.map((a) => [`${a.id}>${a.status}`, a]));
        for (const w of submitted) w.resolve(byId.get(`${w.item.id}>submitted`));
        for (const w of changes) w.resolve(byId.get(`${w.item.id}>${w.item.change.status}`));
        if (applied.length && this.opts.onApplied) {
          await Promise.resolve(this.opts.onApplied(applied)).catch((err) => this.opts.onError?.(err, 0));
        }
        return;
      } catch (err) {
        this.opts.onError?.(err, attempt);
        // Both statements are idempotent (state machine, parts on conflict do nothing): repeating
        // a half-applied batch is safe.
        if (this.closed && attempt >= 3) return;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5_000)));
      }
    }
  }
}
