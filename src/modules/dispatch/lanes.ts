// Lanes and fairness: one loop per carrier lane, woken by events (new work, a flight landing, a
// backoff ending), never polling. Each pass builds a block from the lane (priority first, order per
// number, campaigns by weight: carrier-lane.ts) up to batchAheadMs of every bucket's rate and within
// the lane's room (flights picked and not landed; segments waiting for tokens), checks it (still
// valid, inside its quiet-hours window, its campaign running) and hands what passes to the
// reservation. Transactional messages never wait behind bulk ones already picked: while the lane is
// full of bulk, a block of priority flights alone may still start, within the same limits.
import type { CarrierConfig } from '../carriers/carriers.config';
import { CarrierLane } from './carrier-lane';
import type { Clock } from './clock';
import type { DispatchTuning } from './dispatch.tuning';
import { LaneLoad, moveTo } from './flight';
import type { Flight, Refusal } from './intake';
import { quietUntil } from './intake';
import type { HoldReason } from './outcome-recorder';
import { BlockBudget, SegmentRatePolicy } from './rate.policy';

export interface LaneState {
  lane: CarrierLane<Flight>;
  load: LaneLoad;
  /** Segments waiting for tokens the lane may hold: `claimAheadMs` of its carrier's rate. */
  unsentAllowance: number;
  /** Blocks whose campaign states are being read. */
  admitting: number;
  /** The carrier itself said "throttled": nothing of this lane is reserved before then. */
  pausedUntil: number;
  running: boolean;
  wake?: () => void;
}

/** What the lanes ask of the dispatcher around them. */
export interface LanesHost {
  /** Stopping: only flights this process took may still be picked (to finish their retries). */
  stopping(): boolean;
  /** A checked block: its flights wait for tokens. */
  admitted(flights: Flight[]): void;
  end(f: Flight, refusal: Refusal): Promise<void>;
  hold(flights: Flight[], releaseAt: Date | undefined, reason: HoldReason): Promise<void>;
  campaignStops(flights: Flight[]): Promise<Map<string, 'paused' | 'canceled'>>;
  /** A lane's loop returned (the drain waits for it). */
  idle(): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** How soon a paused campaign's held message is looked at again. */
export const PAUSED_RECHECK_MS = 3_000;

export class Lanes {
  private readonly states = new Map<string, LaneState>();

  constructor(
    private readonly clock: Clock,
    private readonly tuning: DispatchTuning,
    private readonly policy: SegmentRatePolicy,
    private readonly host: LanesHost,
  ) {}

  all(): IterableIterator<LaneState> {
    return this.states.values();
  }

  get(carrierId: string): LaneState | undefined {
    return this.states.get(carrierId);
  }

  of(carrier: CarrierConfig): LaneState {
    let s = this.states.get(carrier.id);
    if (!s) {
      const rate = this.policy.paramsFor(carrier.segments_per_second).ratePerSecond;
      s = {
        lane: new CarrierLane<Flight>(carrier.id),
        load: new LaneLoad(),
        unsentAllowance: Math.max(1, (rate * this.tuning.claimAheadMs) / 1000),
        admitting: 0,
        pausedUntil: 0,
        running: false,
      };
      this.states.set(carrier.id, s);
    }
    return s;
  }

  pausedUntil(carrierId: string): number {
    return this.states.get(carrierId)?.pausedUntil ?? 0;
  }

  /** The flight (its head, picked or backing off) is finished: the next one to its number may go. */
  done(f: Flight, wasHead: boolean): void {
    const s = this.states.get(f.carrierId);
    if (!s) return;
    if (wasHead) s.lane.done(f);
    this.kick(s);
  }

  /** Back to the head of its number's queue, to be picked again from `at`. */
  retryAt(f: Flight, at: number): void {
    const s = this.states.get(f.carrierId)!;
    s.lane.retryAt(f, at);
    this.kick(s);
  }

  /** Wakes a lane's loop (starting it if it is not running). */
  kick(s: LaneState): void {
    const w = s.wake;
    s.wake = undefined;
    w?.();
    if (s.running) return;
    s.running = true;
    void this.run(s)
      .catch((err) => {
        s.running = false;
        this.host.warn({ err, carrier: s.lane.carrierId }, 'lane loop failed; restarting');
        this.clock.after(this.tuning.retryBaseMs, () => this.kick(s));
      })
      .finally(() => this.host.idle());
  }

  kickAll(): void {
    for (const s of this.states.values()) this.kick(s);
  }

  /** Sleeps until kicked or until `at` (a backoff ending), whichever comes first. */
  private waitForWork(s: LaneState, at?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let cancel = () => undefined as void;
      const done = () => {
        cancel();
        s.wake = undefined;
        resolve();
      };
      s.wake = done;
      if (at !== undefined) cancel = this.clock.after(Math.max(1, at - this.clock.now()), done);
    });
  }

  private async run(s: LaneState): Promise<void> {
    const t = this.tuning;
    for (;;) {
      const now = this.clock.now();
      if (s.lane.size === 0 || (this.host.stopping() && !s.load.totalActive && !this.hasTaken(s))) {
        s.running = false;
        return;
      }
      const full =
        s.load.totalActive >= t.maxInFlightPerLane ||
        s.admitting >= t.maxBlocksPerLane ||
        s.load.totalUnsent >= s.unsentAllowance;
      const priorityOnly =
        full &&
        s.load.active.priority < t.maxInFlightPerLane &&
        s.load.unsent.priority < s.unsentAllowance &&
        s.lane.hasReady(now, 'priority');
      if (full && !priorityOnly) {
        await this.waitForWork(s);
        continue;
      }
      const budget = new BlockBudget(t.batchAheadMs);
      const room = priorityOnly
        ? t.maxBlockMessages
        : Math.min(t.maxBlockMessages, t.maxInFlightPerLane - s.load.totalActive);
      let skips = 0;
      const stopping = this.host.stopping();
      const block = s.lane.nextBlock(now, (f) => {
        if (budget.size >= room || (priorityOnly && f.lane !== 'priority')) return 'stop';
        // While stopping only what this process took (waiting to retry) may still go.
        if ((stopping && !f.taken) || !budget.fits(f.buckets, f.segments))
          return ++skips > t.maxSkipsPerBlock ? 'stop' : 'skip';
        budget.add(f.buckets, f.segments);
        return 'take';
      });
      if (!block.length) {
        if (stopping && !s.load.totalActive) {
          s.running = false;
          return;
        }
        await this.waitForWork(s, s.lane.nextWakeAt());
        continue;
      }
      for (const f of block) moveTo(f, 'picked');
      s.admitting++;
      void this.admit(s, block).finally(() => {
        s.admitting--;
        this.kick(s);
      });
    }
  }

  /** A block's checks before it asks for tokens; what passes goes to the reservation. */
  private async admit(s: LaneState, block: Flight[]): Promise<void> {
    const now = this.clock.now();
    const go: Flight[] = [];
    const quiet: Flight[] = [];
    for (const f of block) {
      if (f.env.validUntil !== undefined && f.env.validUntil <= now)
        void this.host.end(f, { status: 'expired', errorCode: 'validity_expired', detail: 'validity ended' });
      else if (!f.taken && quietUntil(f.env, now)) quiet.push(f);
      else go.push(f);
    }
    if (quiet.length) void this.host.hold(quiet, undefined, 'quiet_hours');
    let ready = go;
    try {
      const stops = await this.host.campaignStops(go.filter((f) => !f.taken));
      if (stops.size) {
        const paused = go.filter((f) => stops.get(f.id) === 'paused');
        if (paused.length) void this.host.hold(paused, new Date(now + PAUSED_RECHECK_MS), 'campaign_paused');
        for (const f of go)
          if (stops.get(f.id) === 'canceled')
            void this.host.end(f, {
              status: 'canceled',
              errorCode: 'campaign_canceled',
              detail: 'campaign canceled',
            });
        ready = go.filter((f) => !stops.has(f.id));
      }
    } catch (err) {
      this.host.warn({ err, carrier: s.lane.carrierId }, 'campaign states unreadable; block retried');
      const back = now + this.tuning.retryBaseMs;
      for (const f of go) {
        moveTo(f, 'backoff');
        s.lane.retryAt(f, back);
      }
      return;
    }
    for (const f of ready) moveTo(f, 'reserving');
    this.host.admitted(ready);
  }

  private hasTaken(s: LaneState): boolean {
    return s.lane.some((f) => f.taken);
  }
}
