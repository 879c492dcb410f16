// The dispatcher's knobs, with the reasons for their defaults. Injected (DISPATCH_TUNING) so a test
// or a benchmark can override one without touching the environment schema.
import { DEFAULT_RATE_TUNING, RateTuning } from '../rates/token-bucket';

export const DISPATCH_TUNING = Symbol('DispatchTuning');

export interface DispatchTuning {
  rate: RateTuning;
  /** How far ahead of now a lane may reserve send slots; bounds how long a claimed batch waits. */
  maxAheadMs: number;
  /** A block (one pass of a lane) takes up to this much of each bucket's rate. */
  batchAheadMs: number;
  /** Most messages in one batch. */
  maxBlockMessages: number;
  /** Numbers a block builder may pass over (their bucket is full this block) before it stops. */
  maxSkipsPerBlock: number;
  /** Messages picked and awaiting an outcome per carrier lane; beyond it the lane waits. */
  maxInFlightPerLane: number;
  /** Blocks of one lane whose campaign states are being read at once. */
  maxBlocksPerLane: number;
  /**
   * Blocks of priority messages alone that may start while the lane is full of bulk (in flight,
   * claiming or claimed ahead), so a transactional message never queues behind bulk work.
   */
  maxPriorityBlocksPerLane: number;
  /**
   * Segments waiting for tokens (or their send time), per lane, in ms of the carrier's rate:
   * enough to keep the buckets busy while the next block is built, and a bound on what waits in
   * memory (nothing is fenced before its chunk's time).
   */
  claimAheadMs: number;
  /** Messages taken in but not finished per partition before the partition is paused. */
  maxOpenPerPartition: number;
  /** Retries of a definite non-acceptance (throttled, queue full) before DLQ + failed. */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a message may stay `submitting` with no outcome before the reconciler ends it `unknown`. */
  unknownOutcomeAfterMs: number;
  reconcileEveryMs: number;
  /** Status writes: linger, batch size, and writes in progress at once. */
  statusLingerMs: number;
  statusMaxBatch: number;
  statusConcurrency: number;
  /** Kafka partitions handled at once. */
  partitionsConsumedConcurrently: number;
  /** Longest graceful shutdown waits for in-flight and claimed messages. */
  drainTimeoutMs: number;
}

export const DEFAULT_DISPATCH_TUNING: DispatchTuning = {
  rate: DEFAULT_RATE_TUNING,
  maxAheadMs: 250,
  // Three blocks of 400 ms in their round trip keep a capped lane fed while a claim takes up to
  // 1.2 s, with a third of the queries that blocks of 200 ms, six at a time, cost the shared pool.
  batchAheadMs: 400,
  maxBlockMessages: 500,
  maxSkipsPerBlock: 64,
  // Enough to keep the connector's window full (2 binds × 100 by default) while a block waits for
  // its claim; what exceeds the window waits in the dispatcher's submit gate, where transactional
  // messages go first. 1,000 queued a thousand and more at the gate during a campaign drain, whose
  // opt-out looks went stale there and were made again (campaign bench, alternating runs: end to
  // end 775 and 825 msg/s at 1,000, 775 and 922 at 400; transactional p99 3.0 s both times at
  // 1,000, 2.5 and 2.8 s at 400).
  maxInFlightPerLane: 400,
  maxBlocksPerLane: 3,
  maxPriorityBlocksPerLane: 2,
  // One second covers a batch's Postgres round trips on a busy machine (measured: 600 ms kept a
  // 50 seg/s carrier at 33/s, 1 s at 36/s with the simulator in the same process).
  claimAheadMs: 1_000,
  maxOpenPerPartition: 5_000,
  // 200 ms doubling to 5 s: eight attempts span about 20 s, far below unknownOutcomeAfterMs, so
  // the reconciler never mistakes a message waiting for its retry for a lost one.
  maxAttempts: 8,
  retryBaseMs: 200,
  retryMaxMs: 5_000,
  unknownOutcomeAfterMs: 10 * 60_000,
  reconcileEveryMs: 60_000,
  statusLingerMs: 5,
  statusMaxBatch: 1_000,
  // One write at a time held every carrier-accepted message behind a commit round trip; three
  // overlap them (a fraction of the pool), and receipts stop arriving before their submit is stored.
  statusConcurrency: 3,
  partitionsConsumedConcurrently: 8,
  drainTimeoutMs: 20_000,
};
