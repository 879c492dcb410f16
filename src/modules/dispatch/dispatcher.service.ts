// The dispatcher: outbound envelopes in, carrier submits out. It owns the per-carrier lanes, the
// checks made at dispatch time (validity, route, quiet hours, opt-outs), the segment buckets, the
// at-most-once claim, the submit and its outcome. Kafka (offsets, pausing, rebalances) is the
// consumer's business (dispatch.consumer.ts); here every message carries opaque offset refs that
// are handed back through `onFinished` once its outcome is durable.
//
// One loop per carrier lane, woken by events (new work, an outcome, a timer), never polling:
//   build a batch (priority first, per-number FIFO, up to batchAheadMs of every bucket's rate)
//   → re-check validity and quiet hours; opt-outs as they are now and the claim, in parallel
//     (only claimed ids go out; a claimed opted-out number is suppressed). The claim is made in
//     small units; a message another dispatcher claimed long ago and never started is taken over
//   → reserve the batch's chunks in Redis (one round trip for many chunks, each at its own time)
//   → at each chunk's time fence its units as started, look at the opt-outs once more, and submit
//     it through its connector (outcomes arrive asynchronously)
//   → outcome → batched status write → offsets.
// Batches overlap (Postgres latency), bounded by claimAheadMs of the carrier's rate.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { DeadLetters } from '../../infra/kafka/dead-letters';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { CampaignStates } from '../campaigns/campaign-states.service';
import { isAllowedAt, nextAllowedAt } from '../campaigns/quiet-hours';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import type { CarrierConfig, SenderConfig } from '../carriers/carriers.config';
import type { Connector, SubmitOutcome } from '../carriers/connector';
import { ConnectorRegistry } from '../carriers/connector-registry.service';
import { storedReceiptKey } from '../carriers/receipt-id';
import { OptOutLedger } from '../consent/opt-out-ledger.service';
import { analyzeText } from '../encoding';
import { AppliedChange, MessageRepository, StatusChange } from '../messages/message.repository';
import { StatusCallbackService } from '../receipts/status-callback.service';
import { CarrierLane, LaneClass, LaneEntry } from './carrier-lane';
import { DISPATCH_TUNING, DispatchTuning } from './dispatch.tuning';
import { HeldMessages } from './held-messages.service';
import { DispatchEnvelope, parseOutbound } from './outbound-envelope';
import { BlockBudget, BucketSpec, SegmentRatePolicy, chunksOf } from './rate.policy';
import { CoalescedLookup } from '../../infra/batching/coalesced-lookup';
import { StatusBatcher } from './status-batcher';
import { SendWindow } from './send-window';
import { StageTimings } from './stage-timings';
import { SubmitGate } from './submit-gate';
import type { Take } from './token-bucket';
import { TokenBucketStore, preciseNow } from './token-buckets.service';

/** Where a message came from in Kafka; opaque to the dispatcher, handed back when it is finished. */
export interface OffsetRef {
  topic: string;
  partition: number;
  offset: string;
  generation: number;
}

export interface IntakeRecord {
  ref: OffsetRef;
  key: Buffer | null;
  value: Buffer | null;
}

interface Pending extends LaneEntry {
  env: DispatchEnvelope;
  carrier: CarrierConfig;
  sender: SenderConfig;
  connector: Connector;
  buckets: BucketSpec[];
  refs: OffsetRef[];
  /** Claimed in Postgres by this process: only it may submit (and retry) the message. */
  claimed: boolean;
  attempts: number;
  /** Picked into a block and not yet back (outcome, finish or retry). */
  flying: boolean;
  /** Picked and not yet handed to the connector. */
  unsent: boolean;
  /** When its opt-outs were last looked at (a chunk that waited longer looks again). */
  checkedAt: number;
  /** The claim unit it was claimed in (set with `claimed`). */
  unit?: ClaimUnit;
  /** The time its tokens were reserved for (set when its chunk is due). */
  slotAt?: number;
}

/**
 * A few consecutive messages of one claim, fenced together (MessageRepository.startUnits): none
 * may leave before the unit is started, and once it is, none of them can be taken over.
 */
interface ClaimUnit {
  id: string;
  /** The class of the message it was made for first (whose fence writes it goes with). */
  lane: LaneClass;
  /**
   * The fence being written (or written): true if this claim may send, false if it was taken
   * over. Unset again if writing it failed.
   */
  start?: Promise<boolean>;
}

/**
 * Claimed messages of one lane that pay into the same buckets, waiting for their tokens: one queue
 * of the process's merged reservation (see runReserver).
 */
interface Spender {
  key: string;
  queue: Record<LaneClass, Pending[]>;
  /** Its share among queues due at the same time (its campaign's weight). */
  weight: number;
  /** Segments granted so far divided by its weight (see token-bucket.ts QueueAsk.served). */
  served: number;
}

interface LaneState {
  lane: CarrierLane<Pending>;
  running: boolean;
  /** Messages picked into blocks and not yet back. */
  inFlight: number;
  /** Batches in their Postgres phase (checks and claim). */
  blocks: number;
  /**
   * Segments claimed and not yet handed to the connector (waiting for tokens). What is still in its
   * Postgres phase is bounded by maxBlocksPerLane instead, so a slow claim round trip does not eat
   * into the claimed look-ahead that keeps the buckets busy.
   */
  unsent: number;
  /** Most unsent segments the lane may hold: `claimAheadMs` of its carrier's rate. */
  unsentAllowance: number;
  /** The carrier itself said "throttled": nothing leaves this lane before then. */
  pausedUntil: number;
  /** Claimed messages waiting for tokens, by the buckets they pay into. */
  spenders: Map<string, Spender>;
  /**
   * The priority class's own share of the counters above (priority-only blocks in their Postgres
   * phase, priority messages picked, claimed priority segments waiting for tokens): a priority
   * block may start while bulk fills the lane, within the same limits for its own class.
   */
  priorityBlocks: number;
  priorityFlying: number;
  priorityUnsent: number;
  wake?: () => void;
  timer?: NodeJS.Timeout;
}

/**
 * STOP wins up to the submit: a message is handed to its connector only if its last look at the
 * opt-outs started at most this long (plus the look's own lead, see optOutAgeLimit) before. Chunks
 * look again just before their send time (see sendChunk); a message that then waited longer (the
 * connector's gate, the send window, a carrier pause) looks once more before it goes.
 */
const MAX_OPT_OUT_AGE_MS = 100;

const OPTED_OUT = { status: 'suppressed', errorCode: 'opted_out', detail: 'recipient opted out' } as const;

/** Records read between two yields to the event loop when a fetch is taken in. */
const ACCEPT_SLICE = 200;

/**
 * Longest a message waits behind its send window (see submit) before it gives its reserved slot up
 * and is reserved again.
 */
const MAX_WINDOW_HOLD_MS = 200;

/** Past the moment a takeover may be tried, so the claim is surely old enough by then. */
const TAKEOVER_SLACK_MS = 250;
/**
 * A message claimed by another dispatcher is looked at again at least this often until it may be
 * taken over: a live claimer (the partition moved during a rebalance) usually sends it within a
 * second, and the messages behind it to the same number should not wait the whole takeover age.
 */
const TAKEOVER_RECHECK_MS = 1_000;

/** How often the per-stage timings are logged (debug level only). */
const STAGE_LOG_EVERY_MS = 5_000;

/** How soon a paused campaign's held message is looked at again. */
const PAUSED_RECHECK_MS = 3_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

@Injectable()
export class Dispatcher {
  /** Handed every offset ref whose message is finished (outcome durable). Set by the consumer. */
  onFinished: (ref: OffsetRef) => void = () => undefined;

  private readonly lanes = new Map<string, LaneState>();
  private readonly windows = new Map<string, SendWindow>();
  private readonly gates = new Map<string, SubmitGate>();
  private readonly stages = new StageTimings();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 5 });
  private stageTimer?: NodeJS.Timeout;
  private readonly byId = new Map<string, Pending>();
  private readonly policy: SegmentRatePolicy;
  private readonly statuses: StatusBatcher;
  /**
   * The last looks at the opt-outs before a send, and the claim units fenced as started right
   * before their first submit: one lookup (one write) at a time per class, so a transactional
   * message's look never queues behind a campaign's.
   */
  private readonly probes = this.perClass(
    () => new CoalescedLookup<Pending>((ps) => this.suppressedAmong(ps)),
  );
  private readonly fences = this.perClass(
    () => new CoalescedLookup<ClaimUnit>((us) => this.messages.startUnits(us.map((u) => u.id))),
  );
  private readonly log: Logger;
  private stopping = false;
  private readonly idleWaiters = new Set<() => void>();
  /** The one token reservation loop of this process (see runReserver). */
  private readonly reserver: { running: boolean; wake?: () => void } = { running: false };

  private readonly m;

  constructor(
    private readonly messages: MessageRepository,
    private readonly optOuts: OptOutLedger,
    private readonly directory: CarrierDirectory,
    private readonly connectors: ConnectorRegistry,
    private readonly buckets: TokenBucketStore,
    private readonly held: HeldMessages,
    private readonly deadLetters: DeadLetters,
    metrics: MetricsService,
    logger: AppLogger,
    @Inject(DISPATCH_TUNING) private readonly tuning: DispatchTuning,
    @Optional() private readonly callbacks?: StatusCallbackService,
    @Optional() private readonly campaigns?: CampaignStates,
  ) {
    this.log = logger.child({ component: 'dispatcher' });
    this.policy = new SegmentRatePolicy(tuning.rate);
    const M = METRICS;
    this.m = {
      submitted: metrics.counter(
        M.messagesSubmitted.name,
        'Messages a carrier accepted.',
        M.messagesSubmitted.labels,
      ),
      segments: metrics.counter(
        M.segmentsSubmitted.name,
        'Segments a carrier accepted.',
        M.segmentsSubmitted.labels,
      ),
      submitLatency: metrics.histogram(
        M.submitLatency.name,
        'Time from submit to the carrier answering.',
        M.submitLatency.labels,
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      ),
      acceptToSubmit: metrics.histogram(
        M.acceptToSubmit.name,
        'Time from acceptance to the carrier taking the message.',
        M.acceptToSubmit.labels,
        [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
      ),
      throttled: metrics.counter(
        M.throttled.name,
        'Waits for segment tokens (source=local) and carrier throttling answers (source=carrier).',
        M.throttled.labels,
      ),
      retries: metrics.counter(
        M.retries.name,
        'Submits retried after a definite non-acceptance.',
        M.retries.labels,
      ),
      suppressed: metrics.counter(
        M.suppressed.name,
        'Messages not sent at dispatch time.',
        M.suppressed.labels,
      ),
      cap: metrics.gauge(
        M.carrierCap.name,
        'Configured carrier cap, segments per second.',
        M.carrierCap.labels,
      ),
      final: metrics.counter(
        M.messagesFinal.name,
        'Messages reaching a final status.',
        M.messagesFinal.labels,
      ),
    };
    this.statuses = new StatusBatcher(messages, {
      lingerMs: tuning.statusLingerMs,
      maxBatch: tuning.statusMaxBatch,
      concurrency: tuning.statusConcurrency,
      onApplied: (applied) => this.afterApplied(applied),
      onError: (err, attempt) => this.log.warn({ err, attempt }, 'status write failed; retrying'),
    });
  }

  private perClass<X>(make: () => X): Record<LaneClass, X> {
    return { priority: make(), bulk: make() };
  }

  /** Publishes the configured caps; called when the dispatcher role starts. */
  publishCaps(): void {
    for (const c of this.directory.carriers()) this.m.cap.set({ carrier: c.id }, c.segments_per_second);
  }

  /** Ids this process holds (queued in a lane, in flight or waiting to retry): not lost, not stuck. */
  holds(id: string): boolean {
    return this.byId.has(id);
  }

  /** Messages taken in and not finished. */
  get open(): number {
    return this.byId.size;
  }

  /**
   * Takes in one partition's records: malformed ones go to the DLQ, messages that cannot leave are
   * finished at once (expired, no route, held for quiet hours), the rest join their carrier's lane.
   * Resolves when each record is either finished or in a lane.
   */
  async accept(records: IntakeRecord[], laneClass: LaneClass): Promise<void> {
    const now = Date.now();
    if (!this.stageTimer && this.log.isLevelEnabled('debug')) {
      this.stageTimer = setInterval(() => this.logStages(), STAGE_LOG_EVERY_MS);
      this.stageTimer.unref();
      this.loopDelay.enable();
    }
    const dlq: { rec: IntakeRecord; reason: string }[] = [];
    const finals: { refs: OffsetRef[]; change: StatusChange; env: DispatchEnvelope }[] = [];
    const holds: { env: DispatchEnvelope; refs: OffsetRef[]; releaseAt: Date }[] = [];
    const admitted: Pending[] = [];
    for (const [i, rec] of records.entries()) {
      // A fetch can hand over thousands of records; reading them in one go held the event loop
      // for a hundred milliseconds and more, and every chunk due meanwhile left late.
      if (i && i % ACCEPT_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const parsed = parseOutbound(rec.value);
      if (!parsed.ok) {
        dlq.push({ rec, reason: parsed.reason });
        continue;
      }
      const env = parsed.envelope;
      if (this.stageTimer) this.stages.add(`intake:${laneClass}`, Math.max(0, now - env.acceptedAt));
      const known = this.byId.get(env.id);
      if (known) {
        // Delivered again (rebalance, seek): the copy in hand finishes for both.
        known.refs.push(rec.ref);
        continue;
      }
      const stop = this.refusal(env, now);
      if (stop) {
        finals.push({ refs: [rec.ref], change: { ...stop, id: env.id, at: new Date(now) }, env });
        continue;
      }
      const releaseAt = this.quietUntil(env, now);
      if (releaseAt) {
        holds.push({ env, refs: [rec.ref], releaseAt });
        continue;
      }
      const carrier = this.directory.carrierOf(env.to)!;
      const sender = this.directory.senderByAddress(env.from)!;
      const p: Pending = {
        id: env.id,
        to: env.to,
        lane: laneClass,
        flow: env.campaignId,
        weight: env.campaignWeight,
        env,
        carrier,
        sender,
        connector: this.connectors.get(sender.connector),
        buckets: this.policy.bucketsOf({
          carrier,
          sender,
          campaign: env.campaignId
            ? { id: env.campaignId, maxSegmentsPerSecond: env.campaignMaxSegmentsPerSecond }
            : undefined,
          segments: env.segments,
        }),
        refs: [rec.ref],
        claimed: false,
        attempts: 0,
        flying: false,
        unsent: false,
        checkedAt: 0,
      };
      this.byId.set(p.id, p);
      admitted.push(p);
    }

    for (const p of admitted) this.laneOf(p.carrier).lane.push(p);
    for (const c of new Set(admitted.map((p) => p.carrier))) this.kick(this.laneOf(c));

    await Promise.all([
      this.toDlq(dlq.map((d) => ({ ...d, reasonLabel: 'malformed' }))),
      ...finals.map(async (f) => {
        await this.statuses.apply(f.change);
        if (f.change.status === 'rejected' || f.change.status === 'expired')
          this.m.suppressed.inc({ reason: f.change.errorCode ?? f.change.status, type: f.env.type });
        this.finishRefs(f.refs);
      }),
      this.holdAll(holds),
    ]);
  }

  /**
   * Forgets queued messages whose record matches (their partition went to another consumer, which
   * reads them again). Claimed messages stay: only this process may submit them.
   */
  release(match: (ref: OffsetRef) => boolean): number {
    let n = 0;
    for (const s of this.lanes.values()) {
      for (const p of s.lane.drop((e) => !e.claimed && e.refs.every(match))) {
        this.byId.delete(p.id);
        n++;
      }
    }
    return n;
  }

  /**
   * Graceful stop: no new block starts with unclaimed messages; claimed ones (in flight, waiting
   * to retry) are finished within the deadline; status writes are flushed.
   */
  async drain(deadlineMs = this.tuning.drainTimeoutMs): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + deadlineMs;
    for (const s of this.lanes.values()) this.kick(s);
    while (Date.now() < deadline && this.busy()) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(200, Math.max(1, deadline - Date.now())));
        this.idleWaiters.add(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    await this.statuses.flush();
    this.statuses.close();
    for (const s of this.lanes.values()) if (s.timer) clearTimeout(s.timer);
    if (this.stageTimer) clearInterval(this.stageTimer);
    this.loopDelay.disable();
  }

  // ---- checks ---------------------------------------------------------------------------------

  /** A reason the message can never leave, as its final status. */
  private refusal(env: DispatchEnvelope, now: number): Omit<StatusChange, 'id' | 'at'> | undefined {
    if (env.validUntil !== undefined && env.validUntil <= now)
      return { status: 'expired', errorCode: 'validity_expired', detail: 'validity ended before dispatch' };
    if (!this.directory.carrierOf(env.to))
      return {
        status: 'rejected',
        errorCode: 'no_route',
        detail: `no carrier serves ${env.to.slice(0, 4)}…`,
      };
    const sender = this.directory.senderByAddress(env.from);
    if (!sender) return { status: 'rejected', errorCode: 'unknown_sender', detail: `no sender ${env.from}` };
    if (env.type === 'marketing' && env.quietHours) {
      // A window that cannot be read would throw on every look and wedge its partition.
      try {
        isAllowedAt(new Date(now), env.quietHours.timezone, env.quietHours);
      } catch (err) {
        return {
          status: 'rejected',
          errorCode: 'invalid_quiet_hours',
          detail: err instanceof Error ? err.message : String(err),
        };
      }
    }
    return undefined;
  }

  /** For a marketing message outside its window: when the window opens. */
  private quietUntil(env: DispatchEnvelope, now: number): Date | undefined {
    if (env.type !== 'marketing' || !env.quietHours) return undefined;
    const { timezone, start, end } = env.quietHours;
    const at = new Date(now);
    if (isAllowedAt(at, timezone, { start, end })) return undefined;
    return nextAllowedAt(at, timezone, { start, end });
  }

  /**
   * When some of `rest` (claimed, not yet submitted) belong to a campaign that is now paused: they
   * are released (submitting → queued, only the claim holder may) and held; the others go back to
   * the lane, still claimed. True when the block must stop here.
   */
  private async stopForPausedCampaigns(s: LaneState, rest: Pending[]): Promise<boolean> {
    const stopped = await this.campaignStops(rest);
    if (!stopped.size) return false;
    const stop = rest.filter((p) => stopped.has(p.id));
    await this.messages.releaseClaims(stop.map((p) => p.id));
    const hold = stop.filter((p) => stopped.get(p.id) === 'paused');
    const cancel = stop.filter((p) => stopped.get(p.id) === 'canceled');
    for (const p of hold) this.forget(s, p);
    await this.holdAll(
      hold.map((p) => ({ env: p.env, refs: p.refs, releaseAt: new Date(Date.now() + PAUSED_RECHECK_MS) })),
      'campaign_paused',
    );
    for (const p of cancel) {
      p.claimed = false;
      void this.finishWith(s, p, {
        status: 'canceled',
        errorCode: 'campaign_canceled',
        detail: 'campaign canceled',
      });
    }
    const now = Date.now();
    for (const p of rest) {
      if (stopped.has(p.id) || this.byId.get(p.id) !== p) continue;
      this.land(s, p);
      s.lane.retryAt(p, now);
    }
    this.kick(s);
    return true;
  }

  /** Messages whose campaign is paused, scheduled for later, or canceled (not to leave now). */
  private async campaignStops(ps: Pending[]): Promise<Map<string, 'paused' | 'canceled'>> {
    const out = new Map<string, 'paused' | 'canceled'>();
    const ids = [...new Set(ps.map((p) => p.env.campaignId).filter((x): x is string => !!x))];
    if (!ids.length || !this.campaigns) return out;
    const states = await this.campaigns.of(ids);
    for (const p of ps) {
      const st = p.env.campaignId ? states.get(p.env.campaignId)?.status : undefined;
      if (st === 'paused' || st === 'scheduled') out.set(p.id, 'paused');
      else if (st === 'canceled') out.set(p.id, 'canceled');
    }
    return out;
  }

  /** Ids of messages whose campaign is paused or scheduled for later (not to be claimed now). */
  private async pausedCampaignMessages(ps: Pending[]): Promise<Set<string>> {
    const stops = await this.campaignStops(ps);
    return new Set([...stops].filter(([, why]) => why === 'paused').map(([id]) => id));
  }

  private async holdAll(
    holds: { env: DispatchEnvelope; refs: OffsetRef[]; releaseAt: Date }[],
    reason: 'quiet_hours' | 'campaign_paused' = 'quiet_hours',
  ) {
    if (!holds.length) return;
    await this.held.hold(holds.map((h) => ({ envelope: h.env, releaseAt: h.releaseAt })));
    // `queued` shows the message is waiting (for its window); it is not final, so its failure to
    // apply (already queued from an earlier hold) changes nothing.
    await Promise.all(
      holds.map((h) =>
        this.statuses.apply({
          id: h.env.id,
          status: 'queued',
          detail: reason === 'quiet_hours' ? 'held for quiet hours' : 'held while the campaign is paused',
          event: { reason, release_at: h.releaseAt.toISOString() },
          at: new Date(),
        }),
      ),
    );
    this.finishRefs(holds.flatMap((h) => h.refs));
  }

  // ---- lanes ----------------------------------------------------------------------------------

  private laneOf(carrier: CarrierConfig): LaneState {
    let s = this.lanes.get(carrier.id);
    if (!s) {
      const rate = this.policy.paramsFor(carrier.segments_per_second).ratePerSecond;
      s = {
        lane: new CarrierLane<Pending>(carrier.id),
        running: false,
        inFlight: 0,
        blocks: 0,
        unsent: 0,
        unsentAllowance: Math.max(1, (rate * this.tuning.claimAheadMs) / 1000),
        pausedUntil: 0,
        spenders: new Map(),
        priorityBlocks: 0,
        priorityFlying: 0,
        priorityUnsent: 0,
      };
      this.lanes.set(carrier.id, s);
    }
    return s;
  }

  /** Wakes a lane's loop (starting it if it is not running). */
  private kick(s: LaneState) {
    if (s.wake) {
      const w = s.wake;
      s.wake = undefined;
      w();
    }
    if (!s.running) {
      s.running = true;
      // runLane clears `running` itself, synchronously, where it returns: a kick right after
      // starts a new loop instead of being lost.
      void this.runLane(s)
        .catch((err) => {
          s.running = false;
          this.log.error({ err, carrier: s.lane.carrierId }, 'lane loop failed; restarting');
          setTimeout(() => this.kick(s), this.tuning.retryBaseMs).unref();
        })
        .finally(() => this.notifyIdle());
    }
  }

  /** Sleeps until kicked or until `at` (a backoff ending), whichever comes first. */
  private waitForWork(s: LaneState, at?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        if (s.timer) clearTimeout(s.timer);
        s.timer = undefined;
        s.wake = undefined;
        resolve();
      };
      s.wake = done;
      if (at !== undefined) s.timer = setTimeout(done, Math.max(1, at - Date.now()));
    });
  }

  private async runLane(s: LaneState): Promise<void> {
    const name = s.lane.carrierId;
    for (;;) {
      const now = Date.now();
      if (
        s.lane.size === 0 ||
        (this.stopping && ![...this.byId.values()].some((p) => p.claimed && p.carrier.id === name))
      ) {
        s.running = false;
        return;
      }
      if (s.pausedUntil > now) {
        await this.waitForWork(s, s.pausedUntil);
        continue;
      }
      // Batches overlap while Postgres answers, but claimed messages waiting for tokens stay
      // within claimAheadMs of the carrier's rate: a crash leaves only those (and the claims in
      // their round trip) `submitting`.
      // Transactional messages never wait behind bulk ones already picked: while the lane is full
      // of bulk, a block of priority messages alone may still start (within its own bounds).
      const full =
        s.inFlight >= this.tuning.maxInFlightPerLane ||
        s.blocks >= this.tuning.maxBlocksPerLane ||
        s.unsent >= s.unsentAllowance;
      const priorityOnly =
        full &&
        s.priorityBlocks < this.tuning.maxPriorityBlocksPerLane &&
        s.priorityFlying < this.tuning.maxInFlightPerLane &&
        s.priorityUnsent < s.unsentAllowance &&
        s.lane.hasReady(now, 'priority');
      if (full && !priorityOnly) {
        if (s.lane.hasReady(now, 'priority')) this.stages.add('wait:priority-blocked', 0);
        await this.waitForWork(s);
        continue;
      }
      const budget = new BlockBudget(this.tuning.batchAheadMs);
      let skips = 0;
      const room = priorityOnly
        ? this.tuning.maxBlockMessages
        : Math.min(this.tuning.maxBlockMessages, this.tuning.maxInFlightPerLane - s.inFlight);
      const block = s.lane.nextBlock(now, (p) => {
        if (budget.size >= room || (priorityOnly && p.lane !== 'priority')) return 'stop';
        // While stopping only claimed messages (waiting to retry) may still go.
        if (this.stopping && !p.claimed) return ++skips > this.tuning.maxSkipsPerBlock ? 'stop' : 'skip';
        if (!budget.fits(p.buckets, p.env.segments))
          return ++skips > this.tuning.maxSkipsPerBlock ? 'stop' : 'skip';
        budget.add(p.buckets, p.env.segments);
        return 'take';
      });
      if (!block.length) {
        await this.waitForWork(s, s.lane.nextWakeAt());
        continue;
      }
      // Blocks overlap: while one waits for Postgres, the next is built. Per-number order holds
      // because a number's head stays in flight until its outcome.
      for (const p of block) {
        p.flying = true;
        if (p.lane === 'priority') s.priorityFlying++;
      }
      s.inFlight += block.length;
      s.blocks++;
      if (priorityOnly) s.priorityBlocks++;
      let released = false;
      const dbDone = () => {
        if (released) return;
        released = true;
        s.blocks--;
        if (priorityOnly) s.priorityBlocks--;
        this.kick(s);
      };
      void this.runBlock(s, block, dbDone).finally(dbDone);
    }
  }

  /**
   * One block's Postgres phase: dispatch-time checks and the claim. What is claimed joins its
   * spender (token reservation and the submits at the reserved times). Claiming before reserving
   * keeps the database's latency out of the gap between the reserved time and the submit, which is
   * what the caps depend on.
   */
  private async runBlock(s: LaneState, block: Pending[], dbDone: () => void): Promise<void> {
    try {
      const now = Date.now();
      const go: Pending[] = [];
      const fresh: Pending[] = [];
      // Claimed by this process earlier, back for another try (the block before failed or the
      // carrier refused): no claim again, but opt-outs are looked at again like any other.
      const retried: Pending[] = [];
      const requeue: Pending[] = [];
      for (const p of block) {
        if (p.env.validUntil !== undefined && p.env.validUntil <= now) {
          void this.finishWith(s, p, {
            status: 'expired',
            errorCode: 'validity_expired',
            detail: 'validity ended',
          });
        } else if (p.claimed) retried.push(p);
        else if (this.quietUntil(p.env, now)) requeue.push(p);
        else fresh.push(p);
      }
      if (requeue.length) {
        for (const p of requeue) this.forget(s, p);
        void this.holdAll(
          requeue.map((p) => ({ env: p.env, refs: p.refs, releaseAt: this.quietUntil(p.env, now)! })),
        ).catch((err) =>
          this.log.error({ err }, 'holding messages for quiet hours failed; read again on restart'),
        );
      }
      // A paused (or not yet started) campaign's messages wait; they are looked at again shortly.
      const paused = await this.pausedCampaignMessages(fresh);
      if (paused.size) {
        const waiting = fresh.filter((p) => paused.has(p.id));
        fresh.splice(0, fresh.length, ...fresh.filter((p) => !paused.has(p.id)));
        for (const p of waiting) this.forget(s, p);
        void this.holdAll(
          waiting.map((p) => ({ env: p.env, refs: p.refs, releaseAt: new Date(now + PAUSED_RECHECK_MS) })),
          'campaign_paused',
        ).catch((err) =>
          this.log.error({ err }, 'holding paused campaign messages failed; read again on restart'),
        );
      }

      // STOP wins: opt-outs as they are at dispatch time. Checked alongside the claim (one round
      // trip instead of two): a claimed message found opted out is suppressed from `submitting`,
      // which only the claim holder may do.
      if (fresh.length || retried.length) {
        const started = performance.now();
        const checkedAt = Date.now();
        const units = this.unitsFor(fresh);
        const [suppressed, { claimed, waitMs }] = await Promise.all([
          this.suppressedAmong([...retried, ...fresh]),
          this.messages.claimInUnits(
            fresh.map((p) => ({ id: p.id, unit: units.get(p)!.id })),
            this.tuning.claimTakeoverAfterMs,
          ),
        ]);
        this.stages.add(`claim:${block[0].lane}`, performance.now() - started);
        for (const p of retried) {
          if (suppressed.has(p.id)) void this.finishWith(s, p, OPTED_OUT);
          else {
            p.checkedAt = checkedAt;
            go.push(p);
          }
        }
        const later: Pending[] = [];
        for (const p of fresh) {
          if (!claimed.has(p.id)) {
            const wait = waitMs.get(p.id);
            // Claimed elsewhere and not started: ours once that claim is old enough (its claimer
            // died or lost the partition; a live one sends it first, and then it is not ours).
            if (wait !== undefined) {
              this.land(s, p);
              s.lane.retryAt(p, Date.now() + Math.min(wait + TAKEOVER_SLACK_MS, TAKEOVER_RECHECK_MS));
              later.push(p);
            } else this.finish(s, p); // started elsewhere, already sent or final: not ours
          } else if (suppressed.has(p.id)) {
            p.claimed = true;
            void this.finishWith(s, p, OPTED_OUT);
          } else {
            p.claimed = true;
            p.unit = units.get(p);
            p.checkedAt = checkedAt;
            go.push(p);
          }
        }
        if (later.length) {
          this.log.info(
            { carrier: s.lane.carrierId, messages: later.length },
            'messages claimed by another dispatcher and not started: taken over if that claim gets old',
          );
          this.kick(s);
        }
      }
      dbDone();
      for (const p of go) {
        p.unsent = true;
        s.unsent += p.env.segments;
        if (p.lane === 'priority') s.priorityUnsent += p.env.segments;
        const sp = this.spenderOf(s, p);
        if (!this.waiting(sp)) this.activate(sp);
        sp.queue[p.lane].push(p);
      }
      if (go.length) this.kickReserver();
    } catch (err) {
      // Postgres away: what is still ours goes back (order kept) and is tried again; claimed
      // messages stay claimed and skip the claim next time.
      this.log.warn({ err, carrier: s.lane.carrierId }, 'block failed before submit; retrying');
      this.backToLane(s, block);
    }
  }

  // ---- spending tokens ------------------------------------------------------------------------

  /**
   * Claimed messages are spent by one spender per set of buckets (carrier, sender, campaign), so
   * a campaign held back by its own cap never holds up messages that do not pay into that cap.
   */
  private spenderOf(s: LaneState, p: Pending): Spender {
    const key = p.buckets.map((b) => b.key).join('|');
    let sp = s.spenders.get(key);
    if (!sp) {
      // Campaigns without a cap of their own share a spender; their weights apply in the lane.
      const weight = p.env.campaignMaxSegmentsPerSecond ? (p.weight ?? 1) : 1;
      sp = { key, queue: { priority: [], bulk: [] }, weight, served: 0 };
      s.spenders.set(key, sp);
    }
    return sp;
  }

  private waiting(sp: Spender): number {
    return sp.queue.priority.length + sp.queue.bulk.length;
  }

  /**
   * A spender getting work again starts level with the least served of those already waiting, so
   * a queue that was idle does not take every tied slot until it has caught up.
   */
  private activate(sp: Spender) {
    let least = Infinity;
    for (const s of this.lanes.values())
      for (const o of s.spenders.values()) if (o !== sp && this.waiting(o)) least = Math.min(least, o.served);
    if (least !== Infinity) sp.served = Math.max(sp.served, least);
  }

  /**
   * The messages at the head of a spender's queue (priority first) that one reservation could
   * grant: what its tightest bucket holds plus its refill over the look-ahead, at least one
   * message. Asking for more only costs: every chunk asked for is an argument Redis parses and
   * the script looks at, and a capped carrier's 500 waiting messages made the reservations most
   * of the dispatcher's CPU.
   */
  private headOf(sp: Spender): Pending[] {
    const first = sp.queue.priority[0] ?? sp.queue.bulk[0];
    const reach = Math.min(
      ...first.buckets.map(
        (b) => b.params.capacity + (b.params.ratePerSecond * this.tuning.maxAheadMs) / 1000,
      ),
    );
    const head: Pending[] = [];
    let segments = 0;
    for (const list of [sp.queue.priority, sp.queue.bulk])
      for (const p of list) {
        if (
          head.length >= this.tuning.maxBlockMessages ||
          (head.length && segments + p.env.segments > reach + 1)
        )
          return head;
        head.push(p);
        segments += p.env.segments;
      }
    return head;
  }

  /** Wakes the reservation loop (starting it if it is not running). */
  private kickReserver() {
    const r = this.reserver;
    if (r.wake) {
      const w = r.wake;
      r.wake = undefined;
      w();
    }
    if (r.running) return;
    r.running = true;
    void this.runReserver().catch((err) => {
      r.running = false;
      this.log.error({ err }, 'token reservation loop failed; restarting');
      setTimeout(() => this.kickReserver(), this.tuning.retryBaseMs).unref();
    });
  }

  /** Sleeps until kicked or `ms` passed. */
  private reserverSleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer: { t?: NodeJS.Timeout } = {};
      const done = () => {
        clearTimeout(timer.t);
        this.reserver.wake = undefined;
        resolve();
      };
      timer.t = setTimeout(done, Math.max(1, ms));
      this.reserver.wake = done;
    });
  }

  /**
   * Keeps the buckets spent without gaps: reserves the heads of every spender of every lane that
   * is not paused, in one Redis round trip merged in time order (each chunk within every bucket's
   * capacity, priority chunks first among those due at once, then by weight), schedules each
   * granted chunk's submits at its reserved time, and asks again at once, so the next reservation
   * is in hand before the last one's time comes. A bucket only refills up to its capacity, so
   * asking only after the last reserved send would lose every millisecond of round trip beyond it.
   * One loop for the whole process, not one per spender: spenders share buckets (a sender used on
   * two carriers, a carrier of two campaigns), and reserved apart, one spender's schedule pushed
   * the shared bucket's clock ahead and the other's chunks waited behind it while their own
   * carrier's bucket sat full (alpha at 50 seg/s reached 42 with beta beside it, 47.6 alone).
   */
  private async runReserver(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const active: { s: LaneState; sp: Spender }[] = [];
      let pausedUntil = Infinity;
      for (const s of this.lanes.values())
        for (const sp of s.spenders.values()) {
          if (!this.waiting(sp)) continue;
          if (s.pausedUntil > now) pausedUntil = Math.min(pausedUntil, s.pausedUntil);
          else active.push({ s, sp });
        }
      if (!active.length) {
        if (pausedUntil === Infinity) {
          this.reserver.running = false;
          return;
        }
        await this.reserverSleep(pausedUntil - now);
        continue;
      }
      const asks = active.map(({ s, sp }) => {
        const head = this.headOf(sp);
        const chunks = chunksOf(
          head,
          (p) => p.buckets,
          (p) => p.env.segments,
        );
        return { s, sp, chunks };
      });
      const started = performance.now();
      let r: { sendAt: number[][]; retryInMs: number };
      try {
        r = await this.buckets.reserve(
          asks.map(({ sp, chunks }) => ({
            chunks: chunks.map((c) => c.budget.takes()),
            priority: chunks.map((c) => c.items.some((p) => p.lane === 'priority')),
            weight: sp.weight,
            served: sp.served,
          })),
          this.tuning.maxAheadMs,
        );
      } catch (err) {
        this.log.warn({ err }, 'token reservation failed; retrying');
        await this.reserverSleep(this.tuning.retryBaseMs);
        continue;
      }
      this.stages.add('reserve', performance.now() - started);
      if (!r.sendAt.some((t) => t.length)) {
        for (const { s, chunks } of asks)
          this.m.throttled.inc({
            carrier: s.lane.carrierId,
            connector: chunks[0].items[0].connector.id,
            source: 'local',
          });
        await this.reserverSleep(r.retryInMs);
        continue;
      }
      asks.forEach(({ s, sp, chunks }, q) => {
        const times = r.sendAt[q];
        if (!times.length) return;
        const granted = new Set<Pending>();
        times.forEach((at, i) => {
          let segments = 0;
          for (const p of chunks[i].items) {
            granted.add(p);
            segments += p.env.segments;
          }
          sp.served += segments / sp.weight;
          void this.sendChunk(s, chunks[i].items, at);
        });
        sp.queue.priority = sp.queue.priority.filter((p) => !granted.has(p));
        sp.queue.bulk = sp.queue.bulk.filter((p) => !granted.has(p));
      });
    }
  }

  /**
   * One chunk at its reserved time: last checks (its campaign paused, a STOP that came while it
   * waited), then its submits. Each submit still passes the local send window (see submit), so a
   * chunk that comes late (the process stalled) does not bunch with the next ones.
   */
  private async sendChunk(s: LaneState, chunk: Pending[], at: number): Promise<void> {
    let items = chunk;
    try {
      // The last look at the opt-outs starts its usual latency before the send time, so its
      // answer is in when the tokens are due and at most that old when the chunk leaves.
      const probe = this.probes[items.some((p) => p.lane === 'priority') ? 'priority' : 'bulk'];
      const lookAt = at - probe.leadMs;
      if (lookAt - preciseNow() >= 1) await sleep(lookAt - preciseNow());
      const look = probe.check(items);
      look.catch(() => undefined); // awaited below unless the chunk goes back first
      // Its claim units are fenced as started alongside that look, not after it: a fence written
      // at send time made the unit's first message leave a commit late, past the jitter the
      // buckets allow for, where only this process's own send window stood between it and a
      // carrier second that other dispatchers' on-time sends had filled.
      for (const p of items) if (p.unit) this.started(p.unit).catch(() => undefined);
      const wait = at - preciseNow();
      if (wait >= 1) await sleep(wait);
      this.stages.add('late', Math.max(0, preciseNow() - at));
      // The carrier said "throttled": what was reserved for the pause gives its tokens up and
      // is reserved again once the pause ends. Held until then instead, every chunk of the pause
      // would leave at its end in one burst, which the carrier throttles again.
      if (s.pausedUntil > Date.now()) {
        this.stages.add('requeue:throttled', items.length);
        this.requeue(s, items);
        return;
      }
      // A campaign paused while this chunk waited for its tokens: what has not left goes back.
      if (await this.stopForPausedCampaigns(s, items)) return;
      const started = performance.now();
      const { found: suppressed, at: lookedAt } = await look;
      this.stages.add('look', performance.now() - started);
      for (const p of items.filter((x) => suppressed.has(x.id))) {
        void this.finishWith(s, p, OPTED_OUT);
      }
      items = items.filter((x) => !suppressed.has(x.id));
      for (const p of items) {
        p.checkedAt = lookedAt;
        p.slotAt = at;
        this.sent(s, p);
        void this.submit(s, p);
      }
    } catch (err) {
      // Postgres away for the last checks: the chunk goes back to its lane, still claimed.
      this.log.warn({ err, carrier: s.lane.carrierId }, 'chunk failed before submit; retrying');
      this.backToLane(s, items);
    }
  }

  /**
   * Reserved messages that did not leave at their time go back to the head of their spender's
   * queue (still claimed, still unsent), to be reserved again.
   */
  private requeue(s: LaneState, ps: Pending[]) {
    const mine = ps.filter((p) => this.byId.get(p.id) === p && p.flying);
    for (const p of mine) {
      if (p.unsent) continue;
      p.unsent = true;
      s.unsent += p.env.segments;
      if (p.lane === 'priority') s.priorityUnsent += p.env.segments;
    }
    // Back to the front in their order: walked from the last, each goes before the ones after it.
    for (const p of [...mine].reverse()) {
      const sp = this.spenderOf(s, p);
      if (!this.waiting(sp)) this.activate(sp);
      sp.queue[p.lane].unshift(p);
    }
    if (mine.length) this.kickReserver();
  }

  /** Fresh claim units for a block's new messages: `claimUnitSize` consecutive ones share one. */
  private unitsFor(ps: Pending[]): Map<Pending, ClaimUnit> {
    const out = new Map<Pending, ClaimUnit>();
    let unit: ClaimUnit | undefined;
    ps.forEach((p, i) => {
      if (i % this.tuning.claimUnitSize === 0) unit = { id: randomUUID(), lane: p.lane };
      out.set(p, unit!);
    });
    return out;
  }

  /**
   * Fences a message's claim unit as started (the first of its messages to leave writes it; the
   * others wait for the same write). False if another dispatcher took the unit over. Rejects if the
   * fence could not be written (Postgres away): nothing was started, and the next try writes it.
   */
  private started(u: ClaimUnit): Promise<boolean> {
    u.start ??= this.fences[u.lane].check([u]).then(
      (r) => r.found.has(u.id),
      (err) => {
        u.start = undefined;
        throw err;
      },
    );
    return u.start;
  }

  /** What is still ours and not sent goes back to the head of its number's queue, after a pause. */
  private backToLane(s: LaneState, ps: Pending[]) {
    const at = Date.now() + this.tuning.retryBaseMs;
    for (const p of ps) {
      if (this.byId.get(p.id) !== p || !p.flying) continue;
      this.land(s, p);
      s.lane.retryAt(p, at);
    }
    this.kick(s);
  }

  /** A connector's gate: as many submits at once as its window holds. */
  private gateOf(c: Connector): SubmitGate {
    const window = Math.max(1, c.state().window);
    let g = this.gates.get(c.id);
    if (!g) this.gates.set(c.id, (g = new SubmitGate(window)));
    return g;
  }

  /** Where the time went since the last line (debug): per stage, and what each lane holds. */
  private logStages() {
    const stages = this.stages.take();
    if (!Object.keys(stages).length) return;
    const lanes = Object.fromEntries(
      [...this.lanes.values()].map((s) => [
        s.lane.carrierId,
        {
          queued: s.lane.size,
          inFlight: s.inFlight,
          blocks: s.blocks,
          unsent: Math.round(s.unsent),
          claimedWaiting: [...s.spenders.values()].reduce(
            (n, sp) => n + sp.queue.priority.length + sp.queue.bulk.length,
            0,
          ),
        },
      ]),
    );
    const gates = Object.fromEntries(
      [...this.gates].map(([id, g]) => [id, { inUse: g.inUse, queued: g.queued }]),
    );
    // The event loop's delay since the last line: what every timer (a chunk's send time) was late by.
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    const loop = { maxMs: ms(this.loopDelay.max), p99Ms: ms(this.loopDelay.percentile(99)) };
    this.loopDelay.reset();
    this.log.debug({ stages, lanes, gates, loop }, 'dispatch stages');
  }

  /** This process's sends per bucket over the last second plus the jitter allowance (1 + J). */
  private windowOf(key: string): SendWindow {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new SendWindow(1000 + this.tuning.rate.jitterMs)));
    return w;
  }

  /**
   * What on-time sends can reach in 1 + J seconds: ⌊B + r·(1 + J)⌋, the bucket's own bound, at or
   * under the cap. So sends that left on their reserved times never wait here, and whatever left
   * late (a stalled process, a busy gate) cannot bunch: a carrier whose arrivals vary by at most J
   * counts at most the cap in any second, however the sends were grouped. (A window of one second
   * holding B + r let 8 late submits leave in the same millisecond, and 6 ms of arrival jitter put
   * 199 of 200 into the carrier's second.)
   */
  private windowLimit(t: Take): number {
    const j = this.tuning.rate.jitterMs / 1000;
    return Math.max(t.cost, Math.floor(t.params.capacity + t.params.ratePerSecond * (1 + j)));
  }

  /**
   * How old a message's last opt-out look may be when it is handed to the connector: 100 ms past
   * the look's lead. On a quiet database the lead is a few ms; when Postgres answers slowly, the
   * look has to start earlier anyway, and demanding a fresher one would only make every message
   * look twice and wait for both.
   */
  private optOutAgeLimit(lane: LaneClass): number {
    return MAX_OPT_OUT_AGE_MS + this.probes[lane].leadMs;
  }

  /**
   * One message's look at the opt-outs right before its submit. False when it must not go now:
   * suppressed (it opted out meanwhile) or back in its lane (the look failed: Postgres away).
   */
  private async lookAgain(s: LaneState, p: Pending): Promise<boolean> {
    try {
      const { found: suppressed, at } = await this.probes[p.lane].check([p]);
      if (suppressed.has(p.id)) {
        void this.finishWith(s, p, OPTED_OUT);
        return false;
      }
      p.checkedAt = at;
      return true;
    } catch (err) {
      this.log.warn({ err, carrier: s.lane.carrierId }, 'opt-out look before submit failed; retrying');
      this.backToLane(s, [p]);
      return false;
    }
  }

  private async suppressedAmong(ps: Pending[]): Promise<Set<string>> {
    const groups = new Map<string, Pending[]>();
    for (const p of ps) {
      // The one confirmation after STOP goes out by design.
      if (p.env.optOutConfirmation) continue;
      const k = `${p.env.workspaceId}\u0000${p.env.from}`;
      const list = groups.get(k) ?? [];
      list.push(p);
      groups.set(k, list);
    }
    const out = new Set<string>();
    await Promise.all(
      [...groups.values()].map(async (list) => {
        const numbers = await this.optOuts.suppressedAmong(
          list[0].env.workspaceId,
          list.map((p) => p.to),
          list[0].env.from,
        );
        for (const p of list) if (numbers.has(p.to)) out.add(p.id);
      }),
    );
    return out;
  }

  // ---- submit and outcomes --------------------------------------------------------------------

  private async submit(s: LaneState, p: Pending): Promise<void> {
    const labels = { carrier: p.carrier.id, connector: p.connector.id };
    let outcome: SubmitOutcome;
    const gate = this.gateOf(p.connector);
    // The carrier counts arrivals, not reservations: whatever waited (a late chunk, the connector's
    // window shared with other carriers) must not leave bunched with what comes after it. So at the
    // moment it would go, the message must fit this process's last second of sends to each of its
    // buckets; if not, it gives its slot back and waits until it does.
    const takes = p.buckets.map((b) => ({ key: b.key, params: b.params, cost: p.env.segments }));
    let heldSince: number | undefined;
    for (;;) {
      const slot = gate.acquire(p.lane);
      if (slot) {
        const queuedAt = performance.now();
        await slot;
        this.stages.add(`gate:${p.lane}`, performance.now() - queuedAt);
      }
      const held = p.connector.pausedUntil();
      if (held > Date.now()) {
        // The carrier throttled the connection this would leave on: the lane waits out the pause
        // and this message is reserved again after it, instead of waiting inside the connector
        // and leaving in the burst at the pause's end.
        gate.release();
        s.pausedUntil = Math.max(s.pausedUntil, held);
        this.stages.add('requeue:connector-paused', 1);
        this.requeue(s, [p]);
        return;
      }
      if (p.unit) {
        // Nothing leaves before its claim unit is fenced as started: from then on no other
        // dispatcher may take it over. Written as late as possible, so a crash leaves little
        // started and unsent (which is failed, not sent again, by the reconciler). The unit's
        // later messages get the same answer without a write, a taken-over unit's included.
        const fenceAt = performance.now();
        let ours: boolean;
        try {
          ours = await this.started(p.unit);
        } catch (err) {
          gate.release();
          this.log.warn({ err, carrier: s.lane.carrierId }, 'claim fence before submit failed; retrying');
          this.backToLane(s, [p]);
          return;
        }
        this.stages.add('fence', performance.now() - fenceAt);
        if (!ours) {
          gate.release();
          // Taken over by another dispatcher (this claim was old and not started): theirs now.
          this.log.warn({ id: p.id, carrier: s.lane.carrierId }, 'claim taken over; not sent from here');
          this.finish(s, p);
          return;
        }
      }
      if (!p.env.optOutConfirmation && Date.now() - p.checkedAt > this.optOutAgeLimit(p.lane)) {
        // It waited (gate, window, pause) since its chunk's look: it looks again before it goes.
        gate.release();
        if (!(await this.lookAgain(s, p))) return;
        continue;
      }
      const t = preciseNow();
      if (p.slotAt !== undefined) {
        // How late sends leave against their reserved time, and how many past the jitter budget J
        // and past 100 ms, at each pass (a send held by its window counts again when it comes
        // back). Two dispatchers on one carrier hold its cap together only while their sends keep
        // to their slots: each one's send window sees its own sends, not the other's.
        const late = t - p.slotAt;
        const j = this.tuning.rate.jitterMs;
        this.stages.add('late:submit', Math.max(0, late));
        if (late > j) this.stages.add(`late:submit>${j}`, late);
        if (late > 100) this.stages.add('late:submit>100', late);
      }
      const w = Math.max(...takes.map((k) => this.windowOf(k.key).waitFor(t, k.cost, this.windowLimit(k))));
      if (w <= 0) {
        for (const k of takes) this.windowOf(k.key).add(t, k.cost);
        break;
      }
      gate.release();
      this.m.throttled.inc({ carrier: p.carrier.id, connector: p.connector.id, source: 'window' });
      this.stages.add('window', w);
      heldSince ??= t;
      if (t + w - heldSince > MAX_WINDOW_HOLD_MS) {
        // Behind the window for long (the process stalled and its late sends queue here): this
        // one gives its reserved slot up and is reserved again, so a stall costs its own length
        // once instead of delaying every later send for good (the window releases no faster than
        // the buckets reserve).
        this.stages.add('requeue:window', 1);
        this.requeue(s, [p]);
        return;
      }
      await sleep(w);
    }
    const started = performance.now();
    try {
      const text = analyzeText(p.env.body, { smartEncoding: p.env.smartEncoding ?? p.sender.smart_encoding });
      outcome = await p.connector.submit({
        messageId: p.id,
        from: p.env.from,
        senderKind: p.sender.kind,
        to: p.to,
        body: text.text,
        encoding: text.encoding,
        parts: text.parts,
        validUntil: p.env.validUntil !== undefined ? new Date(p.env.validUntil) : undefined,
      });
    } catch (err) {
      // A throw after the bytes may have left is not a definite refusal: reconcile, never resend.
      outcome = { kind: 'unknown', reason: err instanceof Error ? err.message : String(err) };
    } finally {
      gate.release();
    }
    const took = performance.now() - started;
    this.stages.add('submit', took);
    this.m.submitLatency.observe(labels, took / 1000);
    this.land(s, p);
    try {
      await this.onOutcome(s, p, outcome);
    } finally {
      this.kick(s);
    }
  }

  private async onOutcome(s: LaneState, p: Pending, o: SubmitOutcome): Promise<void> {
    const labels = { carrier: p.carrier.id, connector: p.connector.id };
    switch (o.kind) {
      case 'accepted': {
        const at = new Date();
        const type = p.env.type;
        this.m.submitted.inc({ ...labels, sender_kind: p.sender.kind, type });
        this.m.segments.inc(
          { ...labels, sender_kind: p.sender.kind, type, encoding: p.env.encoding },
          o.carrierMessageIds.length || p.env.segments,
        );
        this.m.acceptToSubmit.observe({ type }, Math.max(0, at.getTime() - p.env.acceptedAt) / 1000);
        // The lane moves on at once (the next message to this number may go: the carrier has
        // this one); the offset waits for the write.
        this.forget(s, p);
        await this.statuses.markSubmitted({
          id: p.id,
          carrierId: p.carrier.id,
          connectorId: p.connector.id,
          carrierMessageIds: o.carrierMessageIds,
          receiptKeys: o.carrierMessageIds.map((id) => storedReceiptKey(p.connector.receiptIdFormat, id)),
          submittedAt: at,
        });
        this.stages.add('status', Date.now() - at.getTime());
        this.stages.add(`accept→submit:${p.lane}`, Math.max(0, at.getTime() - p.env.acceptedAt));
        this.finishRefs(p.refs);
        return;
      }
      case 'failed':
        await this.finishWith(s, p, { status: 'failed', errorCode: o.code, detail: o.reason });
        return;
      case 'unknown':
        // Stays `submitting`: a receipt or the reconciler decides. Durable already (the claim).
        this.log.warn({ id: p.id, carrier: p.carrier.id, reason: o.reason }, 'submit outcome unknown');
        this.finish(s, p);
        return;
      case 'retry': {
        p.attempts++;
        this.m.retries.inc({ ...labels, code: o.code });
        if (/throttl/i.test(o.code)) {
          this.m.throttled.inc({ ...labels, source: 'carrier' });
          s.pausedUntil = Math.max(s.pausedUntil, Date.now() + (o.backoffMs ?? this.tuning.retryBaseMs));
        }
        if (p.attempts >= this.tuning.maxAttempts) {
          await this.toDlq([
            {
              rec: { ref: p.refs[0], key: Buffer.from(p.to), value: Buffer.from(JSON.stringify(p.env)) },
              reason: `retries exhausted after ${p.attempts} attempts: ${o.code} ${o.reason}`,
              reasonLabel: 'retries_exhausted',
            },
          ]);
          await this.finishWith(s, p, {
            status: 'failed',
            errorCode: o.code,
            detail: `retries exhausted (${p.attempts}): ${o.reason}`,
            event: { attempts: p.attempts },
          });
          return;
        }
        const backoff = Math.min(
          this.tuning.retryMaxMs,
          Math.max(o.backoffMs ?? 0, this.tuning.retryBaseMs * 2 ** (p.attempts - 1)),
        );
        // Stays at the head of its number's queue: nothing later to this number overtakes it.
        s.lane.retryAt(p, Date.now() + backoff * (0.8 + Math.random() * 0.4));
        this.kick(s);
        return;
      }
    }
  }

  /** Writes a final status, then finishes the message. */
  private async finishWith(s: LaneState, p: Pending, change: Omit<StatusChange, 'id' | 'at'>) {
    this.forget(s, p);
    await this.statuses.apply({ ...change, id: p.id, at: new Date() });
    if (change.status === 'suppressed' || change.status === 'expired')
      this.m.suppressed.inc({ reason: change.errorCode ?? change.status, type: p.env.type });
    this.finishRefs(p.refs);
  }

  /** Removes from the lane and the index, then hands back its offsets (nothing to write). */
  private finish(s: LaneState, p: Pending) {
    this.forget(s, p);
    this.finishRefs(p.refs);
  }

  /** Handed to the connector (or no longer waiting to be). */
  private sent(s: LaneState, p: Pending) {
    if (!p.unsent) return;
    p.unsent = false;
    s.unsent -= p.env.segments;
    if (p.lane === 'priority') s.priorityUnsent -= p.env.segments;
    this.kick(s);
  }

  /** The message is no longer being worked on (outcome in, finished, or back in the lane). */
  private land(s: LaneState, p: Pending) {
    this.sent(s, p);
    if (!p.flying) return;
    p.flying = false;
    s.inFlight--;
    if (p.lane === 'priority') s.priorityFlying--;
  }

  private forget(s: LaneState, p: Pending) {
    this.land(s, p);
    if (this.byId.get(p.id) !== p) return;
    this.byId.delete(p.id);
    s.lane.done(p);
    this.kick(s);
    this.notifyIdle();
  }

  private finishRefs(refs: OffsetRef[]) {
    for (const r of refs) this.onFinished(r);
  }

  private async toDlq(items: { rec: IntakeRecord; reason: string; reasonLabel: string }[]): Promise<void> {
    if (!items.length) return;
    await this.deadLetters.send(
      'sms.outbound.dlq',
      items.map(({ rec, reason, reasonLabel }) => ({
        source: { topic: rec.ref.topic, partition: rec.ref.partition, offset: rec.ref.offset },
        key: rec.key?.toString('utf8') ?? null,
        value: rec.value?.toString('utf8') ?? null,
        reason,
        label: reasonLabel,
      })),
    );
    // A malformed record has no message to finish; its offset is done once the DLQ has it.
    this.finishRefs(items.filter((i) => i.reasonLabel === 'malformed').map((i) => i.rec.ref));
  }

  private async afterApplied(applied: AppliedChange[]) {
    for (const a of applied)
      if (a.status !== 'submitted' && a.status !== 'queued')
        this.m.final.inc({ status: a.status, type: a.type });
    await this.callbacks?.notify(applied);
  }

  private busy(): boolean {
    if ([...this.lanes.values()].some((s) => s.inFlight > 0)) return true;
    return [...this.byId.values()].some((p) => p.claimed);
  }

  private notifyIdle() {
    if (!this.stopping || !this.idleWaiters.size) return;
    const ws = [...this.idleWaiters];
    this.idleWaiters.clear();
    for (const w of ws) w();
  }
}
