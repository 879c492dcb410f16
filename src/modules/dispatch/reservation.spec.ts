import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock';
import { SegmentRatePolicy } from './rate.policy';
import { BucketState, DEFAULT_RATE_TUNING, QueueAsk, reserveQueues } from '../rates/token-bucket';
import { Reservable, Reservation } from './reservation';

const policy = new SegmentRatePolicy(DEFAULT_RATE_TUNING);

/** The Redis store's rules, in memory, on the manual clock. */
function memoryStore(clock: ManualClock) {
  const buckets = new Map<string, BucketState>();
  return {
    calls: 0,
    async reserve(queues: QueueAsk[], maxAheadMs: number) {
      this.calls++;
      return reserveQueues(buckets, queues, clock.precise(), maxAheadMs);
    },
  };
}

let n = 0;
const flight = (
  carrier: { id: string; segments_per_second: number },
  lane: 'priority' | 'bulk' = 'bulk',
): Reservable => ({
  id: `m${++n}`,
  lane,
  carrierId: carrier.id,
  buckets: policy.bucketsOf({ carrier, segments: 1 }),
  segments: 1,
  spenderWeight: 1,
});

function setup() {
  const clock = new ManualClock();
  const store = memoryStore(clock);
  const granted: { ids: string[]; at: number }[] = [];
  const paused = new Map<string, number>();
  const waited: string[] = [];
  const r = new Reservation<Reservable>(
    store,
    clock,
    { maxAheadMs: 250, maxAsk: 500, retryBaseMs: 200 },
    {
      pausedUntil: (c) => paused.get(c) ?? 0,
      granted: (items, at) => granted.push({ ids: items.map((f) => f.id), at }),
      waited: (head) => waited.push(head.carrierId),
      failed: (err) => {
        throw err;
      },
    },
  );
  return { clock, store, granted, paused, waited, r };
}

describe('Reservation', () => {
  it('grants a carrier’s flights no faster than its cap, in time order, asking again before the schedule runs out', async () => {
    const { clock, granted, r } = setup();
    const alpha = { id: 'alpha', segments_per_second: 50 };
    r.add(Array.from({ length: 100 }, () => flight(alpha)));
    await clock.advance(2_000);
    const times = granted.map((g) => g.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const start = times[0];
    // In any one second from the first grant, no more than the cap.
    for (const t of times)
      expect(times.filter((x) => x >= t && x < t + 1_000).length).toBeLessThanOrEqual(50);
    // And it keeps the carrier busy: about 2 s of its rate granted in 2 s.
    expect(granted.flatMap((g) => g.ids).length).toBeGreaterThanOrEqual(90);
    expect(times.at(-1)! - start).toBeLessThan(2_300);
  });

  it('goes first with priority flights among those due at once', async () => {
    const { clock, granted, r } = setup();
    const beta = { id: 'beta', segments_per_second: 10 };
    const bulk = Array.from({ length: 5 }, () => flight(beta, 'bulk'));
    const urgent = flight(beta, 'priority');
    // Queued behind bulk flights of the same buckets, it is still granted first.
    r.add([...bulk, urgent]);
    await clock.advance(2_000);
    const order = granted.flatMap((g) => g.ids);
    expect(order).toEqual([urgent.id, ...bulk.map((f) => f.id)]);
  });

  it('reserves nothing for a paused carrier until its pause ends, and keeps others going', async () => {
    const { clock, granted, paused, r } = setup();
    const a = { id: 'a', segments_per_second: 100 };
    const b = { id: 'b', segments_per_second: 100 };
    paused.set('a', clock.now() + 500);
    const fa = flight(a);
    const fb = flight(b);
    r.add([fa, fb]);
    await clock.advance(100);
    expect(granted.flatMap((g) => g.ids)).toEqual([fb.id]);
    await clock.advance(600);
    expect(granted.flatMap((g) => g.ids)).toEqual([fb.id, fa.id]);
    expect(granted[1].at).toBeGreaterThanOrEqual(clock.now() - 200);
  });

  it('puts a chunk given back at the front, and forgets a flight taken out', async () => {
    const { clock, granted, r } = setup();
    const c = { id: 'c', segments_per_second: 1 };
    const [x, y, z] = [flight(c), flight(c), flight(c)];
    r.add([x]);
    await clock.advance(10);
    expect(granted.map((g) => g.ids)).toEqual([[x.id]]);
    r.add([y, z]);
    expect(r.remove(y)).toBe(true);
    r.addFront([x]);
    await clock.advance(3_000);
    expect(granted.map((g) => g.ids).flat()).toEqual([x.id, x.id, z.id]);
    expect(r.waiting).toBe(0);
  });

  it('reports a local throttle when nothing can be granted yet', async () => {
    const { clock, waited, r } = setup();
    const slow = { id: 'slow', segments_per_second: 1 };
    r.add([flight(slow), flight(slow), flight(slow)]);
    await clock.advance(1_500);
    expect(waited.length).toBeGreaterThan(0);
    expect(new Set(waited)).toEqual(new Set(['slow']));
  });
});
