// Status writes of the dispatcher, batched: lanes hand over outcomes one by one and get a promise
// that resolves once the outcome is durable in Postgres (only then is its Kafka offset resolved).
// One flush writes everything gathered in the last few milliseconds with one statement per kind.
// A failed flush is retried with backoff: an outcome is never dropped, its offset simply waits.
import type {
  AppliedChange,
  MessageRepository,
  StatusChange,
  SubmittedRow,
} from '../messages/message.repository';

interface Waiter<T> {
  item: T;
  resolve: (applied: AppliedChange | undefined) => void;
}

export interface StatusBatcherOptions {
  lingerMs: number;
  maxBatch: number;
  /** Called with what took effect (callbacks, metrics). */
  onApplied?: (changes: AppliedChange[]) => void | Promise<void>;
  onError?: (err: unknown, attempt: number) => void;
}

export class StatusBatcher {
  private submitted: Waiter<SubmittedRow>[] = [];
  private changes: Waiter<StatusChange>[] = [];
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly repo: MessageRepository,
    private readonly opts: StatusBatcherOptions,
  ) {}

  /** The carrier took it: `submitted` with its parts. Resolves once stored. */
  markSubmitted(row: SubmittedRow): Promise<AppliedChange | undefined> {
    return new Promise((resolve) => {
      this.submitted.push({ item: row, resolve });
      this.schedule();
    });
  }

  /** Any other status (suppressed, expired, rejected, failed, queued). Resolves once stored. */
  apply(change: StatusChange): Promise<AppliedChange | undefined> {
    return new Promise((resolve) => {
      this.changes.push({ item: change, resolve });
      this.schedule();
    });
  }

  /** Writes everything pending now and waits for it. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.write());
    await this.flushing;
  }

  /** Stops retrying failed writes after the current attempt (shutdown). */
  close(): void {
    this.closed = true;
  }

  private schedule() {
    const pending = this.submitted.length + this.changes.length;
    if (pending >= this.opts.maxBatch) {
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.write());
    }, this.opts.lingerMs);
  }

  private async write(): Promise<void> {
    const submitted = this.submitted.splice(0);
    const changes = this.changes.splice(0);
    if (!submitted.length && !changes.length) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = [
          ...(submitted.length ? await this.repo.markSubmitted(submitted.map((w) => w.item)) : []),
          ...(changes.length ? await this.repo.applyStatuses(changes.map((w) => w.item)) : []),
        ];
        const byId = new Map(applied.map((a) => [`${a.id}>${a.status}`, a]));
        for (const w of submitted) w.resolve(byId.get(`${w.item.id}>submitted`));
        for (const w of changes) w.resolve(byId.get(`${w.item.id}>${w.item.status}`));
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
