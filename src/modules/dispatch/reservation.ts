// Reservation against the segment buckets: flights waiting for tokens are queued per spender (the
// set of buckets they pay into: carrier, sender, campaign, within one carrier lane), and one loop
// per process reserves the heads of every spender at once, in one Redis round trip merged in time
// order (rates/token-bucket.ts reserveQueues, on Redis's clock), then hands each granted chunk over with
// its send time and asks again at once, so the next reservation is in hand before the last one's
// time comes (a bucket only refills up to its capacity: asking late loses every millisecond of
// round trip beyond it). One loop for the process, not one per spender: spenders share buckets (a
// sender used on two carriers), and reserved apart, one's schedule pushed the shared bucket's clock
// ahead and the other's chunks waited behind it while their own carrier sat idle.
import type { Clock } from './clock';
import type { LaneClass } from './carrier-lane';
import type { BucketSpec } from './rate.policy';
import { chunksOf } from './rate.policy';
import type { QueueAsk, QueuesReservation } from '../rates/token-bucket';

/** What the reservation needs of a flight. */
export interface Reservable {
  id: string;
  lane: LaneClass;
  carrierId: string;
  buckets: BucketSpec[];
  segments: number;
  /** Its share among spenders due at once (a campaign with a cap of its own: its weight). */
  spenderWeight: number;
}

/** The Redis store's reservation (token-buckets.service.ts). */
export interface BucketReserver {
  reserve(queues: QueueAsk[], maxAheadMs: number): Promise<QueuesReservation>;
}

export interface ReservationHost<F> {
  /** Until when the carrier said "throttled" (nothing of its lane is reserved before then). */
  pausedUntil(carrierId: string): number;
  /** A granted chunk, in order, to leave at `at` (epoch ms, this process's clock). */
  granted(items: F[], at: number): void;
  /** Nothing could be reserved yet for this spender's head (buckets empty): a local throttle. */
  waited(head: F): void;
  failed(err: unknown): void;
}

interface Spender<F> {
  key: string;
  carrierId: string;
  queue: Record<LaneClass, F[]>;
  weight: number;
  /** Segments granted so far divided by its weight (rates/token-bucket.ts QueueAsk.served). */
  served: number;
}

export interface ReservationTuning {
  /** How far ahead of now a reservation may reach; bounds how long a granted chunk waits. */
  maxAheadMs: number;
  /** Most flights asked for per spender in one reservation. */
  maxAsk: number;
  retryBaseMs: number;
}

export class Reservation<F extends Reservable> {
  private readonly spenders = new Map<string, Spender<F>>();
  private running = false;
  private wake?: () => void;

  constructor(
    private readonly store: BucketReserver,
    private readonly clock: Clock,
    private readonly tuning: ReservationTuning,
    private readonly host: ReservationHost<F>,
  ) {}

  /** Flights waiting for tokens, over every spender. */
  get waiting(): number {
    let n = 0;
    for (const s of this.spenders.values()) n += s.queue.priority.length + s.queue.bulk.length;
    return n;
  }

  /** Queues flights behind what their spenders already wait for. */
  add(flights: readonly F[]): void {
    for (const f of flights) this.spenderOf(f).queue[f.lane].push(f);
    if (flights.length) this.kick();
  }

  /** Puts flights (a chunk that did not leave) back at the front of their spenders, in order. */
  addFront(flights: readonly F[]): void {
    for (const f of [...flights].reverse()) this.spenderOf(f).queue[f.lane].unshift(f);
    if (flights.length) this.kick();
  }

  /** Takes flights out (let go before they were reserved); true if it was waiting. */
  remove(f: F): boolean {
    const sp = this.spenders.get(spenderKey(f));
    if (!sp) return false;
    const q = sp.queue[f.lane];
    const i = q.indexOf(f);
    if (i < 0) return false;
    q.splice(i, 1);
    return true;
  }

  /** Wakes the loop (a carrier's pause ended, flights arrived). */
  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
    if (this.running) return;
    this.running = true;
    void this.run().catch((err) => {
      this.running = false;
      this.host.failed(err);
      this.clock.after(this.tuning.retryBaseMs, () => this.kick());
    });
  }

  private spenderOf(f: F): Spender<F> {
    const key = spenderKey(f);
    let sp = this.spenders.get(key);
    if (!sp) {
      sp = {
        key,
        carrierId: f.carrierId,
        queue: { priority: [], bulk: [] },
        weight: f.spenderWeight,
        served: 0,
      };
      // A spender getting work again starts level with the least served of those waiting, so a
      // queue that was idle does not take every tied slot until it has caught up.
      let least = Infinity;
      for (const o of this.spenders.values()) if (size(o)) least = Math.min(least, o.served);
      if (least !== Infinity) sp.served = least;
      this.spenders.set(key, sp);
    }
    return sp;
  }

  /**
   * The flights at the head of a spender (priority first) that one reservation could grant: what its
   * tightest bucket holds plus its refill over the look-ahead, at least one flight. Asking for more
   * only costs: every chunk asked for is an argument Redis parses and the script looks at.
   */
  private headOf(sp: Spender<F>): F[] {
    const first = sp.queue.priority[0] ?? sp.queue.bulk[0];
    const reach = Math.min(
      ...first.buckets.map(
        (b) => b.params.capacity + (b.params.ratePerSecond * this.tuning.maxAheadMs) / 1000,
      ),
    );
    const head: F[] = [];
    let segments = 0;
    for (const list of [sp.queue.priority, sp.queue.bulk])
      for (const f of list) {
        if (head.length >= this.tuning.maxAsk || (head.length && segments + f.segments > reach + 1))
          return head;
        head.push(f);
        segments += f.segments;
      }
    return head;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.clock.after(Math.max(1, ms), () => done());
      const done = () => {
        cancel();
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const active: Spender<F>[] = [];
      let pausedUntil = Infinity;
      for (const sp of this.spenders.values()) {
        if (!size(sp)) {
          this.spenders.delete(sp.key);
          continue;
        }
        const until = this.host.pausedUntil(sp.carrierId);
        if (until > now) pausedUntil = Math.min(pausedUntil, until);
        else active.push(sp);
      }
      if (!active.length) {
        if (pausedUntil === Infinity) {
          this.running = false;
          return;
        }
        await this.sleep(pausedUntil - now);
        continue;
      }
      const asks = active.map((sp) => ({
        sp,
        chunks: chunksOf(
          this.headOf(sp),
          (f) => f.buckets,
          (f) => f.segments,
        ),
      }));
      let r: QueuesReservation;
      try {
        r = await this.store.reserve(
          asks.map(({ sp, chunks }) => ({
            chunks: chunks.map((c) => c.budget.takes()),
            priority: chunks.map((c) => c.items.some((f) => f.lane === 'priority')),
            weight: sp.weight,
            served: sp.served,
          })),
          this.tuning.maxAheadMs,
        );
      } catch (err) {
        this.host.failed(err);
        await this.sleep(this.tuning.retryBaseMs);
        continue;
      }
      if (!r.sendAt.some((t) => t.length)) {
        for (const { chunks } of asks) this.host.waited(chunks[0].items[0]);
        await this.sleep(r.retryInMs);
        continue;
      }
      asks.forEach(({ sp, chunks }, q) => {
        const times = r.sendAt[q];
        if (!times.length) return;
        const granted = new Set<F>();
        times.forEach((at, i) => {
          let segments = 0;
          for (const f of chunks[i].items) {
            granted.add(f);
            segments += f.segments;
          }
          sp.served += segments / sp.weight;
          this.host.granted(chunks[i].items, at);
        });
        sp.queue.priority = sp.queue.priority.filter((f) => !granted.has(f));
        sp.queue.bulk = sp.queue.bulk.filter((f) => !granted.has(f));
      });
    }
  }
}

const size = <F>(sp: Spender<F>) => sp.queue.priority.length + sp.queue.bulk.length;
const spenderKey = (f: Reservable) => `${f.carrierId}|${f.buckets.map((b) => b.key).join('|')}`;
