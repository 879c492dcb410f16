// What a consumer does with a record it cannot process. A failure that comes from the record (bad
// data the database refuses, a bug its shape triggers) would fail again at every retry and hold its
// partition, and every STOP behind it, for ever: such a record is tried a few times on its own and
// then dead-lettered with its reason, and the rest flows. A failure of a dependency (the database or
// broker away) is not the record's fault: the batch is read again later, never dead-lettered. Pure.

// PostgreSQL errors that come from the data a record carries: data exceptions (22: a NUL byte, a
// value out of range) and integrity violations (23). Every other class (the connection, resources,
// an operator, a deadlock, a missing migration) is the same for every record: retried, never the
// record's fault.
const DATA_SQLSTATE = /^(22|23)/;
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);
const TRANSIENT_MESSAGE =
  /connect|connection|terminat|timeout|timed out|socket|ECONN|broker|leader|not available|shutting down|closed|pool/i;

/** True when an error is about a dependency, not the record being processed. */
export function isTransient(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; retriable?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^[0-9A-Z]{5}$/.test(code)) return !DATA_SQLSTATE.test(code);
  if (TRANSIENT_NODE_CODES.has(code)) return true;
  // kafkajs marks what a retry may fix.
  if (e.retriable === true) return true;
  if (typeof e.name === 'string' && /^KafkaJS/.test(e.name)) return true;
  return typeof e.message === 'string' && TRANSIENT_MESSAGE.test(e.message);
}

export interface PoisonOptions<T> {
  /** Tries of a record on its own before it is dead-lettered. */
  attempts: number;
  /** Pause between tries, ms. */
  backoffMs?: number;
  /** Dead-letters a record that kept failing (awaited before the next record is tried). */
  poisoned(item: T, err: unknown): Promise<void>;
  isTransient?: (err: unknown) => boolean;
  /** The batch already failed elsewhere: start with the items one at a time. */
  oneByOne?: boolean;
}

/**
 * Runs `run` on the whole batch; when that fails for a reason other than a dependency, runs the
 * items one at a time, in order, each up to `attempts` times, and hands the ones that still fail to
 * `poisoned`. A transient error at any point is thrown (the caller reads the batch again); `run`
 * must be safe to repeat for items it already finished.
 */
export async function isolatePoison<T>(
  items: readonly T[],
  run: (items: T[]) => Promise<void>,
  opts: PoisonOptions<T>,
): Promise<void> {
  const transient = opts.isTransient ?? isTransient;
  if (!opts.oneByOne) {
    try {
      await run([...items]);
      return;
    } catch (err) {
      if (transient(err) || items.length === 0) throw err;
    }
  }
  for (const item of items) {
    let last: unknown;
    for (let attempt = 1; attempt <= Math.max(1, opts.attempts); attempt++) {
      try {
        await run([item]);
        last = undefined;
        break;
      } catch (err) {
        if (transient(err)) throw err;
        last = err;
        if (attempt < opts.attempts && opts.backoffMs)
          await new Promise((r) => setTimeout(r, opts.backoffMs! * attempt));
      }
    }
    if (last !== undefined) await opts.poisoned(item, last);
  }
}

/** A short, printable reason for a dead letter's header and metric. */
export function reasonOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return (code + msg).replace(/[^\x20-\x7e]/g, '?').slice(0, 300);
}
