// Segment token buckets: the math behind every carrier, sender and campaign cap. Pure, so the
// Redis script (token-buckets.service.ts) and the unit specs run exactly these rules.
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
// least 1 segment). One Redis round trip reserves many chunks (reserveChunks), so a small block
// costs no round trips, only a chunk (timer, last opt-out look) per B segments; and every segment
// of B comes off the rate. With the defaults (5 ms block, 50 ms jitter) caps up to 200 get B = 1:
// 50 gives r = 47.6 (95 %), 200 gives r = 190.5 (95 %), 1 gives r = 0.95; 1,000 gives B = 5.
// 50 ms, not 20: measured against the simulator on this machine kind, 20 ms left about one segment
// of slack and its one-second windows saw 51 of 50 (2–6 throttles a run); 50 ms gave none.
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

export const DEFAULT_RATE_TUNING: RateTuning = { blockMs: 5, jitterMs: 50, lumpSegments: 1 };

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
 * Reserves several chunks in one go (one Redis round trip for a whole batch): chunk by chunk, each
 * as `reserve` would, each no earlier than the one before, until one would be further ahead than
 * `maxAheadMs`. Each chunk stays within every bucket's capacity (or is a single lump), so the bound
 * holds per chunk exactly as for single reservations. The Redis script (token-buckets.service.ts)
 * implements exactly this over hashes; this version runs on a map for the specs.
 */
export function reserveChunks(
  store: Map<string, BucketState>,
  chunks: Take[][],
  now: number,
  maxAheadMs: number,
): ChunkReservation {
  const sendAt: number[] = [];
  let last = now;
  for (const takes of chunks) {
    let at = last;
    for (const t of takes) at = Math.max(at, readyAt(store.get(t.key), t.params, t.cost, now));
    if (at - now > maxAheadMs) {
      return { sendAt, retryInMs: sendAt.length ? 0 : Math.ceil(at - now - maxAheadMs) };
    }
    for (const t of takes) {
      const s = refill(store.get(t.key), t.params, at);
      store.set(t.key, { tokens: s.tokens - t.cost, at });
    }
    sendAt.push(at);
    last = at;
  }
  return { sendAt, retryInMs: 0 };
}
