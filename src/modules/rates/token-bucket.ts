// Segment token buckets: the math behind every carrier, sender and campaign cap. Pure, so the
// Redis script (dispatch/token-buckets.service.ts) and the unit specs run exactly these rules.
//
// Why these numbers. A bucket of capacity B refilled at r tokens/s never hands out more than
// B + r·W tokens in any window of W seconds: the tokens taken in [a, a+W] are what the bucket held
// at a (≤ B) plus what refilled during the window (≤ r·W) minus what is left at the end (≥ 0).
// Takes happen at the send time the reservation names (see reserve), so the same bound holds
// for submits. Submits then travel to the carrier with a varying delay; if that delay varies by at most
// J seconds, a carrier's one-second window sees grants from a window of 1 + J seconds. Hence, for
// a carrier cap C:
//
//     B + r·(1 + J) ≤ C   ⇒   r = (C − B) / (1 + J)
//
// Segments are whole, so what a window sees is at most ⌊B + r·(1 + J)⌋, and B + r·(1 + J) < C + 1
// is enough: r is set a hair below (C + 1 − B) / (1 + J). That matters most for tiny caps: a cap
// of 1 has B = 1, and the first form would leave it no refill at all.
//
// B is the block: the most one chunk of a reservation may take at once (blockMs of the cap, at
// least 1 segment). One Redis round trip reserves many chunks (reserveQueues), so a small block
// costs no round trips, only a chunk (timer, last opt-out look) per B segments; and every segment
// of B comes off the rate. With the defaults (5 ms block, 40 ms jitter) caps up to 200 get B = 1:
// 50 gives r = 48.1 (96 %), 200 gives r = 192.3 (96 %), 1 gives r = 0.96; 1,000 gives B = 5.
// J is how much the trip from this process's send decision to the carrier's clock varies. Measured
// against the simulator on this machine kind (its own process; submits written the moment they
// are decided, Nagle off): p50 0.3 ms, p99 8–10 ms, max 14 ms. 40 ms leaves room for more: at
// 30 ms one cap run in three still saw a throttle, at 40 none in seven. The
// dispatcher's send window (1 + J seconds, ⌊B + r·(1 + J)⌋) makes sends that left late wait
// instead of bunching, so lateness does not eat into J. PARLEY_CARRIER_JITTER_MS sets it for a
// carrier reached over a longer path.
//
// A message is indivisible: one with n > B segments is granted once the bucket is full (tokens ≥ B)
// and leaves the bucket in debt (tokens = B − n), which the refill repays before anything else is
// granted. The bound then reads max(B, n) + r·(1 + J); callers keep messages within B where the cap
// is tight (the policy sizes B from the largest message it must admit, see RateTuning.lumpSegments).

export interface BucketParams {
  /** Most tokens the bucket holds (the block; also the burst). */
  capacity: number;
  /** Refill, tokens per second. */
  ratePerSecond: number;
}

export interface BucketState {
  tokens: number;
  /** Epoch ms of the last refill. */
  at: number;
}

export interface RateTuning {
  /** How much of a cap one reservation may take at once, in ms of the cap. */
  blockMs: number;
  /** Allowance for how unevenly submits reach the carrier after leaving, in ms. */
  jitterMs: number;
  /** The largest message (segments) a bucket admits without going into debt. */
  lumpSegments: number;
}

export const DEFAULT_RATE_TUNING: RateTuning = { blockMs: 5, jitterMs: 40, lumpSegments: 1 };

/** Bucket parameters that keep every one-second window at or under `capPerSecond`. */
export function bucketParamsFor(
  capPerSecond: number,
  tuning: RateTuning = DEFAULT_RATE_TUNING,
): BucketParams {
  if (!(capPerSecond > 0)) throw new Error(`cap must be positive, got ${capPerSecond}`);
  const block = Math.ceil((capPerSecond * tuning.blockMs) / 1000);
  // Never below one segment, never more than half the cap (a tiny cap still needs a refill rate).
  const capacity = Math.max(1, Math.min(Math.max(block, tuning.lumpSegments), Math.floor(capPerSecond / 2)));
  const ratePerSecond = ((capPerSecond + 1 - capacity) / (1 + tuning.jitterMs / 1000)) * (1 - 1e-6);
  return { capacity, ratePerSecond };
}

/** The rate a cap is sent at, in segments per second: the bucket's refill rate under it. */
export function pacedRate(capPerSecond: number, jitterMs = DEFAULT_RATE_TUNING.jitterMs): number {
  return bucketParamsFor(capPerSecond, { ...DEFAULT_RATE_TUNING, jitterMs }).ratePerSecond;
}

/** The bucket at time `t` (never before its last take): refilled since, never above capacity. */
export function refill(state: BucketState | undefined, p: BucketParams, t: number): BucketState {
  if (!state) return { tokens: p.capacity, at: t };
  const at = Math.max(t, state.at);
  return { tokens: Math.min(p.capacity, state.tokens + ((at - state.at) * p.ratePerSecond) / 1000), at };
}

/** What taking `n` tokens needs to find in the bucket: all of them, or a full bucket for a lump. */
export const needed = (n: number, p: BucketParams): number => Math.min(n, p.capacity);

/** Earliest time (epoch ms, fractional) at or after `now` at which a take of `n` may happen. */
export function readyAt(state: BucketState | undefined, p: BucketParams, n: number, now: number): number {
  const s = refill(state, p, now);
  const missing = needed(n, p) - s.tokens;
  return missing <= 0 ? s.at : s.at + (missing * 1000) / p.ratePerSecond;
}

export interface Take {
  key: string;
  params: BucketParams;
  cost: number;
}

export type Reservation = { granted: true; sendAt: number } | { granted: false; retryInMs: number };

/**
 * Reserves segments from several buckets (carrier, sender, campaign) for one send time, all or
 * nothing. The send time is the earliest moment every bucket can pay; each bucket is charged as
 * if the take happened exactly then, so each bucket's history is a valid token-bucket history of
 * takes at non-decreasing send times and the B + r·W bound holds for sends. A reservation further
 * ahead than `maxAheadMs` is refused (nothing charged) with the time to come back, so a lane never
 * sleeps on a far-off slot while others could use the bucket. Reserving ahead (instead of polling
 * until tokens are there) loses nothing to timer granularity: the schedule is continuous.
 */
export function reserve(
  store: Map<string, BucketState>,
  takes: Take[],
  now: number,
  maxAheadMs: number,
): Reservation {
  const r = reserveChunks(store, [takes], now, maxAheadMs);
  return r.sendAt.length
    ? { granted: true, sendAt: r.sendAt[0] }
    : { granted: false, retryInMs: r.retryInMs };
}

export interface ChunkReservation {
  /** Send time of each granted chunk, in order: a prefix of the chunks asked for. */
  sendAt: number[];
  /** When nothing was granted: how long until the first chunk would be within reach. */
  retryInMs: number;
}

/**
 * Reserves several chunks of one queue in one go: chunk by chunk, each as `reserve` would, each no
 * earlier than the one before, until one would be further ahead than `maxAheadMs`. Each chunk
 * stays within every bucket's capacity (or is a single lump), so the bound holds per chunk exactly
 * as for single reservations. A merged reservation of that one queue (reserveQueues), which is what
 * the Redis script implements.
 */
export function reserveChunks(
  store: Map<string, BucketState>,
  chunks: Take[][],
  now: number,
  maxAheadMs: number,
): ChunkReservation {
  const queue: QueueAsk = { chunks, priority: chunks.map(() => false), weight: 1, served: 0 };
  const r = reserveQueues(store, [queue], now, maxAheadMs);
  return { sendAt: r.sendAt[0], retryInMs: r.retryInMs };
}

/** One queue of chunks asking for send times in a merged reservation (see reserveQueues). */
export interface QueueAsk {
  /** Chunks in the order they must leave; each stays within every bucket's capacity. */
  chunks: Take[][];
  /** Per chunk: it holds a priority message, so it goes first among chunks due at the same time. */
  priority: boolean[];
  /** Share among queues due at the same time: served in proportion to their weights. */
  weight: number;
  /**
   * Segments this queue was already served, divided by its weight (its virtual time), kept by the
   * caller across reservations: of queues due at the same time, the one served least goes first.
   */
  served: number;
}

export interface QueuesReservation {
  /** Per queue, the send time of each granted chunk: a prefix of its chunks. */
  sendAt: number[][];
  /** When nothing was granted: how long until the first chunk would be within reach. */
  retryInMs: number;
}

/** Two due times closer than this are the same time (float noise between equal computations). */
const SAME_TIME_MS = 1e-6;

/**
 * Reserves the chunks of several queues in one go, merged in time order: at every step the chunk
 * that can leave first (of the queues' heads) is granted, so every bucket is charged in
 * non-decreasing time order even when queues share it, and no queue's head waits behind the
 * schedule another queue reserved ahead. Reserving queue after queue (reserveChunks per queue)
 * would push a shared bucket's clock (a sender used on two carriers) up to `maxAheadMs` ahead,
 * and the next queue's first chunk would wait that long while its own carrier's bucket sat full,
 * losing its refill. Among heads due at the same time, a priority chunk goes first, then the
 * queue with the least served per weight. Stops once the earliest head is further ahead than
 * `maxAheadMs`. The Redis script (dispatch/token-buckets.service.ts) implements exactly this.
 */
export function reserveQueues(
  store: Map<string, BucketState>,
  queues: QueueAsk[],
  now: number,
  maxAheadMs: number,
): QueuesReservation {
  const sendAt: number[][] = queues.map(() => []);
  const served = queues.map((q) => q.served);
  const last = queues.map(() => now);
  let granted = 0;
  for (;;) {
    let best = -1;
    let bestAt = Infinity;
    for (let q = 0; q < queues.length; q++) {
      const c = sendAt[q].length;
      if (c >= queues[q].chunks.length) continue;
      let at = last[q];
      for (const t of queues[q].chunks[c])
        at = Math.max(at, readyAt(store.get(t.key), t.params, t.cost, now));
      if (best < 0 || at < bestAt - SAME_TIME_MS) {
        best = q;
        bestAt = at;
      } else if (at <= bestAt + SAME_TIME_MS) {
        const pq = queues[q].priority[c] ? 1 : 0;
        const pb = queues[best].priority[sendAt[best].length] ? 1 : 0;
        if (pq > pb || (pq === pb && served[q] < served[best])) {
          best = q;
          bestAt = at;
        }
      }
    }
    if (best < 0) return { sendAt, retryInMs: 0 };
    if (bestAt - now > maxAheadMs)
      return { sendAt, retryInMs: granted ? 0 : Math.ceil(bestAt - now - maxAheadMs) };
    const chunk = queues[best].chunks[sendAt[best].length];
    let segments = 0;
    for (const t of chunk) {
      const s = refill(store.get(t.key), t.params, bestAt);
      store.set(t.key, { tokens: s.tokens - t.cost, at: bestAt });
      segments = Math.max(segments, t.cost);
    }
    served[best] += segments / queues[best].weight;
    sendAt[best].push(bestAt);
    last[best] = bestAt;
    granted++;
  }
}
