// The dispatcher: outbound records in, carrier submits out, built from parts with one job each.
//   intake.ts           what each record is: refused, held, set aside, or a flight for its lane
//   lanes.ts            per carrier lane: blocks within its room, their checks (carrier-lane.ts:
//                       priority first, order per number, campaigns sharing by weight)
//   reservation.ts      tokens for every lane at once, merged in time order (Redis's clock)
//   chunk-sender.ts     gate, fence + last look, the shared send window, the submit, its outcome
//   outcome-recorder.ts what the dispatcher records, batched, with metrics and callbacks
//   flight.ts           a message's lifecycle, and each lane's load derived from it
// This file ties them together and keeps the flights of the process. Kafka (offsets, pausing,
// partition leases, rebalances) is the consumer's business (dispatch.consumer.ts); each flight
// carries opaque offset refs handed back through `onFinished` once its outcome is durable.
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { CoalescedLookup } from '../../infra/batching/coalesced-lookup';
import { DeadLetters } from '../../infra/kafka/dead-letters';
import { AppLogger } from '../../infra/logging/app-logger';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { CampaignStates } from '../campaigns/campaign-states.service';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import type { CarrierConfig } from '../carriers/carriers.config';
import { ConnectorRegistry } from '../carriers/connector-registry.service';
import { OptOutLedger } from '../consent/opt-out-ledger.service';
import { StatusCallbackService } from '../receipts/status-callback.service';
import type { LaneClass } from './carrier-lane';
import { ChunkSender, Probe, SendHost } from './chunk-sender';
import { Clock, systemClock } from './clock';
import { DispatchRecordRepository } from './dispatch-record.repository';
import { DispatchMetrics } from './dispatch-metrics';
import { DISPATCH_TUNING, DispatchTuning } from './dispatch.tuning';
import { moveTo } from './flight';
import { HeldMessages } from './held-messages.service';
import { Flight, IntakeRecord, OffsetRef, Refusal, decide, quietUntil } from './intake';
import { Lanes } from './lanes';
import type { DispatchEnvelope } from './outbound-envelope';
import { HoldReason, OutcomeRecorder, takeItemOf } from './outcome-recorder';
import { SegmentRatePolicy } from './rate.policy';
import { Reservation } from './reservation';
import { SharedSendWindow, WindowTake } from './shared-window.service';
import { TokenBucketStore } from './token-buckets.service';

export type { IntakeRecord, OffsetRef } from './intake';

export const DISPATCH_CLOCK = Symbol('DispatchClock');

/** Records read between two yields to the event loop when a fetch is taken in. */
const ACCEPT_SLICE = 200;

@Injectable()
export class Dispatcher implements SendHost {
  /** Handed every offset ref whose message is finished (outcome durable). Set by the consumer. */
  onFinished: (ref: OffsetRef) => void = () => undefined;
  /** The consumer group whose partition leases fence this process's takes. Set by the consumer. */
  groupId = '';

  private readonly byId = new Map<string, Flight>();
  private readonly policy: SegmentRatePolicy;
  private readonly metrics: DispatchMetrics;
  private readonly recorder: OutcomeRecorder;
  private readonly lanes: Lanes;
  private readonly reservation: Reservation<Flight>;
  private readonly sender: ChunkSender;
  private readonly log: Logger;
  private stopping = false;
  private readonly idleWaiters = new Set<() => void>();

  constructor(
    records: DispatchRecordRepository,
    private readonly optOuts: OptOutLedger,
    private readonly directory: CarrierDirectory,
    private readonly connectors: ConnectorRegistry,
    buckets: TokenBucketStore,
    private readonly window: SharedSendWindow,
    held: HeldMessages,
    deadLetters: DeadLetters,
    metrics: MetricsService,
    logger: AppLogger,
    @Inject(DISPATCH_TUNING) private readonly tuning: DispatchTuning,
    @Optional() callbacks?: StatusCallbackService,
    @Optional() private readonly campaigns?: CampaignStates,
    @Optional() @Inject(DISPATCH_CLOCK) private readonly clock: Clock = systemClock,
  ) {
    this.log = logger.child({ component: 'dispatcher' });
    this.policy = new SegmentRatePolicy(tuning.rate);
    this.metrics = new DispatchMetrics(metrics);
    this.recorder = new OutcomeRecorder(
      records,
      held,
      deadLetters,
      this.metrics,
      tuning,
      (err, attempt) => this.log.warn({ err, attempt }, 'status write failed; retrying'),
      callbacks,
    );
    this.lanes = new Lanes(this.clock, tuning, this.policy, {
      stopping: () => this.stopping,
      admitted: (flights) => this.reservation.add(flights),
      end: (f, refusal) => this.end(f, refusal),
      hold: (flights, releaseAt, reason) => this.hold(flights, releaseAt, reason),
      campaignStops: (flights) => this.campaignStops(flights),
      idle: () => this.notifyIdle(),
      warn: (fields, msg) => this.log.warn(fields, msg),
    });
    this.reservation = new Reservation<Flight>(
      buckets,
      this.clock,
      { maxAheadMs: tuning.maxAheadMs, maxAsk: tuning.maxBlockMessages, retryBaseMs: tuning.retryBaseMs },
      {
        pausedUntil: (carrierId) => this.lanes.pausedUntil(carrierId),
        granted: (items, at) => void this.sender.send(items, at),
        waited: (head) =>
          this.metrics.throttled.inc({
            carrier: head.carrierId,
            connector: head.connector.id,
            source: 'local',
          }),
        failed: (err) => this.log.warn({ err }, 'token reservation failed; retrying'),
      },
    );
    const perClass = <X>(make: () => X): Record<LaneClass, X> => ({ priority: make(), bulk: make() });
    // One fence and one look at a time per class, so a transactional message's never queues
    // behind a campaign's; each coalesces every chunk that comes due while the one before runs.
    const takes = perClass(
      (): Probe => new CoalescedLookup<Flight>((fs) => records.take(this.groupId, fs.map(takeItemOf))),
    );
    const looks = perClass((): Probe => new CoalescedLookup<Flight>((fs) => this.suppressedAmong(fs)));
    this.sender = new ChunkSender(this.clock, tuning, this.metrics, this, takes, looks);
  }

  /** Publishes the configured caps; called when the dispatcher role starts. */
  publishCaps(): void {
    for (const c of this.directory.carriers()) this.metrics.cap.set({ carrier: c.id }, c.segments_per_second);
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
   * Takes in one partition's records: what is not a message is dead-lettered, what cannot leave
   * is ended or held at once, the rest joins its carrier's lane. Resolves when each record is
   * finished or in a lane.
   */
  async accept(records: IntakeRecord[], laneClass: LaneClass): Promise<void> {
    const now = this.clock.now();
    const setAside: { rec: IntakeRecord; reason: string }[] = [];
    const ended: { env: DispatchEnvelope; refs: OffsetRef[]; refusal: Refusal }[] = [];
    const holds: { env: DispatchEnvelope; refs: OffsetRef[]; releaseAt: Date }[] = [];
    const touched = new Set<ReturnType<Lanes['of']>>();
    const ctx = {
      carrierOf: (e164: string) => this.directory.carrierOf(e164),
      senderByAddress: (a: string) => this.directory.senderByAddress(a),
      connector: (id: string) => this.connectors.get(id),
      policy: this.policy,
      loadOf: (c: CarrierConfig) => this.lanes.of(c).load,
    };
    for (const [i, rec] of records.entries()) {
      // A fetch can hand over thousands of records: yield now and then so due sends leave on time.
      if (i && i % ACCEPT_SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      const d = decide(rec, laneClass, now, ctx);
      if (d.kind === 'set_aside') setAside.push({ rec, reason: d.reason });
      else if (d.kind === 'refuse') ended.push({ env: d.env, refs: [rec.ref], refusal: d.refusal });
      else if (d.kind === 'hold') holds.push({ env: d.env, refs: [rec.ref], releaseAt: d.releaseAt });
      else {
        const known = this.byId.get(d.flight.id);
        if (known) {
          // Delivered again (a rebalance, a seek): the copy in hand finishes for both.
          known.refs.push(rec.ref);
          continue;
        }
        this.byId.set(d.flight.id, d.flight);
        const s = this.lanes.of(d.flight.carrier);
        s.lane.push(d.flight);
        touched.add(s);
      }
    }
    for (const s of touched) this.lanes.kick(s);
    const at = new Date(now);
    await Promise.all([
      this.recorder.setAside(setAside).then(() => this.finishRefs(setAside.map((x) => x.rec.ref))),
      ...ended.map(async (e) => {
        await this.recorder.decide(e.env, e.refusal, at);
        this.finishRefs(e.refs);
      }),
      this.recorder.hold(holds, 'quiet_hours', at).then(() => this.finishRefs(holds.flatMap((h) => h.refs))),
    ]);
  }

  /**
   * Lets go of queued flights whose record matches (their partition went to another consumer,
   * which reads them again). Flights this process took stay: only it may send them.
   */
  release(match: (ref: OffsetRef) => boolean): number {
    let n = 0;
    for (const s of this.lanes.all()) {
      for (const f of s.lane.drop((e) => !e.taken && e.state === 'queued' && e.refs.every(match))) {
        moveTo(f, 'done');
        this.byId.delete(f.id);
        n++;
      }
    }
    return n;
  }

  /** Graceful stop: nothing new is picked; what was taken finishes within the deadline; writes flush. */
  async drain(deadlineMs = this.tuning.drainTimeoutMs): Promise<void> {
    this.stopping = true;
    const deadline = this.clock.now() + deadlineMs;
    this.lanes.kickAll();
    while (this.clock.now() < deadline && this.busy()) {
      await new Promise<void>((r) => {
        const cancel = this.clock.after(Math.min(200, Math.max(1, deadline - this.clock.now())), () => r());
        this.idleWaiters.add(() => {
          cancel();
          r();
        });
      });
    }
    await this.recorder.close();
  }

  // ---- SendHost: what the chunk sender asks of the dispatcher --------------------------------

  pausedUntil(carrierId: string): number {
    return this.lanes.pausedUntil(carrierId);
  }

  pauseCarrier(carrierId: string, until: number): void {
    const s = this.lanes.get(carrierId);
    if (!s || s.pausedUntil >= until) return;
    s.pausedUntil = until;
    // The reservation sleeps until the pause ends, then reserves what was given back.
    this.clock.after(until - this.clock.now(), () => this.reservation.kick());
  }

  reserveAgain(flights: Flight[]): void {
    for (const f of flights) moveTo(f, 'reserving');
    this.reservation.addFront(flights);
  }

  retryAt(f: Flight, at: number): void {
    if (f.state === 'done') return;
    if (f.state === 'reserving') this.reservation.remove(f);
    moveTo(f, 'backoff');
    this.lanes.retryAt(f, at);
  }

  finish(f: Flight): void {
    this.forget(f);
    this.finishRefs(f.refs);
  }

  async end(f: Flight, refusal: Refusal, event?: Record<string, unknown>): Promise<void> {
    this.forget(f);
    await this.recorder.decide(f.env, event ? { ...refusal, event } : refusal, new Date(this.clock.now()), f);
    this.finishRefs(f.refs);
  }

  async submitted(f: Flight, carrierMessageIds: string[], receiptKeys: string[], at: Date): Promise<void> {
    // The lane moves on at once (the next message to this number may go: the carrier has this
    // one); the offset waits for the write.
    this.forget(f);
    await this.recorder.submitted(f, carrierMessageIds, receiptKeys, at);
    this.finishRefs(f.refs);
  }

  /** Messages whose campaign is paused, scheduled for later, or canceled (not to leave now). */
  async campaignStops(flights: Flight[]): Promise<Map<string, 'paused' | 'canceled'>> {
    const out = new Map<string, 'paused' | 'canceled'>();
    const ids = [...new Set(flights.map((f) => f.env.campaignId).filter((x): x is string => !!x))];
    if (!ids.length || !this.campaigns) return out;
    const states = await this.campaigns.of(ids);
    for (const f of flights) {
      const st = f.env.campaignId ? states.get(f.env.campaignId)?.status : undefined;
      if (st === 'paused' || st === 'scheduled') out.set(f.id, 'paused');
      else if (st === 'canceled') out.set(f.id, 'canceled');
    }
    return out;
  }

  async hold(flights: Flight[], releaseAt: Date | undefined, reason: HoldReason): Promise<void> {
    const now = this.clock.now();
    for (const f of flights) this.forget(f);
    await this.recorder
      .hold(
        flights.map((f) => ({ env: f.env, releaseAt: releaseAt ?? quietUntil(f.env, now) ?? new Date(now) })),
        reason,
        new Date(now),
      )
      .then(() => this.finishRefs(flights.flatMap((f) => f.refs)))
      .catch((err) => this.log.error({ err }, 'holding messages failed; read again on restart'));
  }

  deadLetter(f: Flight, reason: string): Promise<void> {
    return this.recorder.deadLetter(f, reason);
  }

  admitWindow(takes: WindowTake[]): Promise<number> {
    return this.window.admit(takes);
  }

  /**
   * What on-time sends can reach in 1 + J seconds: ⌊B + r·(1 + J)⌋, the bucket's own bound, at or
   * under the cap. So sends that left on their reserved times never wait at the shared window, and
   * whatever left late cannot bunch: a carrier whose arrivals vary by at most J counts at most the
   * cap in any second, however the sends were grouped, whichever process sent them.
   */
  windowLimit(t: { cost: number; params: { capacity: number; ratePerSecond: number } }): number {
    const j = this.tuning.rate.jitterMs / 1000;
    return Math.max(t.cost, Math.floor(t.params.capacity + t.params.ratePerSecond * (1 + j)));
  }

  warn(fields: Record<string, unknown>, msg: string): void {
    this.log.warn(fields, msg);
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  private async suppressedAmong(fs: Flight[]): Promise<Set<string>> {
    const groups = new Map<string, Flight[]>();
    for (const f of fs) {
      const k = `${f.env.workspaceId}\u0000${f.env.from}`;
      const list = groups.get(k);
      if (list) list.push(f);
      else groups.set(k, [f]);
    }
    const out = new Set<string>();
    await Promise.all(
      [...groups.values()].map(async (list) => {
        const numbers = await this.optOuts.suppressedAmong(
          list[0].env.workspaceId,
          list.map((f) => f.to),
          list[0].env.from,
        );
        for (const f of list) if (numbers.has(f.to)) out.add(f.id);
      }),
    );
    return out;
  }

  /** The flight is no longer worked on: out of its lane (the next one to its number may go). */
  private forget(f: Flight): void {
    if (f.state === 'done') return;
    if (f.state === 'reserving') this.reservation.remove(f);
    const wasHead = f.state !== 'queued';
    moveTo(f, 'done');
    if (this.byId.get(f.id) === f) this.byId.delete(f.id);
    this.lanes.done(f, wasHead);
    this.notifyIdle();
  }

  private finishRefs(refs: OffsetRef[]) {
    for (const r of refs) this.onFinished(r);
  }

  private busy(): boolean {
    for (const f of this.byId.values()) if (f.taken) return true;
    return this.sender.busy > 0;
  }

  private notifyIdle() {
    if (!this.stopping || !this.idleWaiters.size) return;
    const ws = [...this.idleWaiters];
    this.idleWaiters.clear();
    for (const w of ws) w();
  }
}
