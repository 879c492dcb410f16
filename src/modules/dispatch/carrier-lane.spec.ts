import { describe, expect, it } from 'vitest';
import { CarrierLane, LaneClass, LaneEntry } from './carrier-lane';
import { PartitionProgress } from './partition-progress';
import { BlockBudget, SegmentRatePolicy, chunksOf } from './rate.policy';
import { DEFAULT_RATE_TUNING } from '../rates/token-bucket';

const e = (id: string, to: string, lane: LaneClass = 'bulk'): LaneEntry => ({ id, to, lane });
const ids = (xs: LaneEntry[]) => xs.map((x) => x.id);
const all = () => 'take' as const;

describe('CarrierLane', () => {
  it('drains the priority class before any bulk message', () => {
    const lane = new CarrierLane('c');
    lane.push(e('b1', '+1'));
    lane.push(e('b2', '+2'));
    lane.push(e('p1', '+3', 'priority'));
    lane.push(e('p2', '+4', 'priority'));
    let n = 0;
    const block = lane.nextBlock(0, () => (n++ < 3 ? 'take' : 'stop'));
    expect(ids(block)).toEqual(['p1', 'p2', 'b1']);
  });

  it('says whether a priority message is ready apart from bulk ones', () => {
    const lane = new CarrierLane('c');
    lane.push(e('b1', '+1'));
    expect(lane.hasReady(0, 'priority')).toBe(false);
    expect(lane.hasReady(0, 'bulk')).toBe(true);
    const p1 = e('p1', '+2', 'priority');
    lane.push(p1);
    expect(lane.hasReady(0, 'priority')).toBe(true);
    // A priority-only block: stops at the first bulk head.
    expect(ids(lane.nextBlock(0, (x) => (x.lane === 'priority' ? 'take' : 'stop')))).toEqual(['p1']);
    expect(lane.hasReady(0, 'priority')).toBe(false);
    lane.retryAt(p1, 10);
    expect(lane.hasReady(9, 'priority')).toBe(false);
    expect(lane.hasReady(10, 'priority')).toBe(true);
  });

  it('keeps one message per number in flight, in acceptance order', () => {
    const lane = new CarrierLane('c');
    const [a1, a2, b1] = [e('a1', '+1'), e('a2', '+1'), e('b1', '+2')];
    [a1, a2, b1].forEach((x) => lane.push(x));
    expect(ids(lane.nextBlock(0, all))).toEqual(['a1', 'b1']);
    expect(lane.nextBlock(0, all)).toEqual([]);
    lane.done(a1);
    expect(ids(lane.nextBlock(0, all))).toEqual(['a2']);
    expect(() => lane.done(b1)).not.toThrow();
    lane.done(a2);
    expect(lane.size).toBe(0);
  });

  it('never lets a later message overtake one waiting to be retried; other numbers go on', () => {
    const lane = new CarrierLane('c');
    const [a1, a2, b1, b2] = [e('a1', '+1'), e('a2', '+1'), e('b1', '+2'), e('b2', '+2')];
    [a1, a2, b1, b2].forEach((x) => lane.push(x));
    expect(ids(lane.nextBlock(0, all))).toEqual(['a1', 'b1']);
    lane.retryAt(a1, 100);
    lane.done(b1);
    expect(ids(lane.nextBlock(50, all))).toEqual(['b2']);
    expect(lane.nextWakeAt()).toBe(100);
    expect(lane.hasReady(99)).toBe(false);
    expect(lane.hasReady(100)).toBe(true);
    expect(ids(lane.nextBlock(100, all))).toEqual(['a1']);
    lane.done(a1);
    expect(ids(lane.nextBlock(100, all))).toEqual(['a2']);
  });

  it('keeps a skipped number first for the next block', () => {
    const lane = new CarrierLane('c');
    ['x', 'y', 'z'].forEach((to, i) => lane.push(e(`m${i}`, to)));
    expect(ids(lane.nextBlock(0, (m) => (m.to === 'x' ? 'skip' : 'take')))).toEqual(['m1', 'm2']);
    expect(ids(lane.nextBlock(0, all))).toEqual(['m0']);
  });

  it('drops queued messages of lost partitions but keeps claimed heads', () => {
    const lane = new CarrierLane<LaneEntry & { p: number }>('c');
    const m = (id: string, to: string, p: number) => ({ ...e(id, to), p });
    const [a1, a2, b1] = [m('a1', '+1', 0), m('a2', '+1', 0), m('b1', '+2', 0)];
    const c1 = m('c1', '+3', 1);
    [a1, a2, b1, c1].forEach((x) => lane.push(x));
    lane.nextBlock(0, (x) => (x.id === 'a1' ? 'take' : 'skip'));
    expect(ids(lane.drop((x) => x.p === 0))).toEqual(['a2', 'b1']);
    expect(lane.size).toBe(2);
    expect(ids(lane.nextBlock(0, all))).toEqual(['c1']);
    lane.done(a1);
    expect(lane.nextBlock(0, all)).toEqual([]);
  });
});

describe('PartitionProgress', () => {
  it('resolves only the contiguous durable prefix', () => {
    const p = new PartitionProgress();
    ['5', '6', '7', '8'].forEach((o) => p.track(o));
    expect(p.finish('6')).toBeUndefined();
    expect(p.finish('8')).toBeUndefined();
    expect(p.finish('5')).toBe('6');
    expect(p.open).toBe(2);
    expect(p.finish('7')).toBe('8');
    expect(p.open).toBe(0);
  });
});

describe('BlockBudget', () => {
  it('fills a block until one bucket reaches its capacity; a lump goes alone', () => {
    const policy = new SegmentRatePolicy({ ...DEFAULT_RATE_TUNING, blockMs: 20 });
    const subject = (segments: number) => ({
      carrier: { id: 'c', segments_per_second: 1000 }, // capacity 20
      sender: { address: 's', segments_per_second: 200 }, // capacity 4
      segments,
    });
    const budget = new BlockBudget();
    const specs = policy.bucketsOf(subject(1));
    let taken = 0;
    while (budget.fits(specs, 1)) {
      budget.add(specs, 1);
      taken++;
    }
    expect(taken).toBe(4);
    expect(budget.takes().map((t) => t.cost)).toEqual([4, 4]);
    const lump = new BlockBudget();
    expect(lump.fits(specs, 9)).toBe(true);
    lump.add(specs, 9);
    expect(lump.fits(specs, 1)).toBe(false);
  });

  it('adds a campaign bucket only when the campaign has a cap', () => {
    const policy = new SegmentRatePolicy(DEFAULT_RATE_TUNING);
    const base = { carrier: { id: 'c', segments_per_second: 100 }, segments: 1 };
    expect(policy.bucketsOf({ ...base, campaign: { id: 'k' } })).toHaveLength(1);
    const withCap = policy.bucketsOf({ ...base, campaign: { id: 'k', maxSegmentsPerSecond: 10 } });
    expect(withCap.map((b) => b.key)).toEqual(['carrier:c:100', 'campaign:k:10']);
  });
});

describe('batches and chunks', () => {
  it('lets a batch take a look-ahead worth of the rate, then splits it into capacity-sized chunks', () => {
    const policy = new SegmentRatePolicy({ ...DEFAULT_RATE_TUNING, blockMs: 20 });
    const specs = policy.bucketsOf({ carrier: { id: 'c', segments_per_second: 200 }, segments: 1 }); // B = 4
    const batch = new BlockBudget(200);
    let n = 0;
    while (batch.fits(specs, 1)) {
      batch.add(specs, 1);
      n++;
    }
    expect(n).toBe(Math.floor((specs[0].params.ratePerSecond * 200) / 1000));
    const chunks = chunksOf(
      Array.from({ length: 10 }, (_, i) => i),
      () => specs,
      (i) => (i === 5 ? 3 : 1),
    );
    expect(chunks.map((c) => c.items)).toEqual([
      [0, 1, 2, 3],
      [4, 5],
      [6, 7, 8, 9],
    ]);
    expect(chunks.map((c) => c.budget.takes()[0].cost)).toEqual([4, 4, 4]);
  });

  it('shares bulk blocks between concurrent campaigns by weight, whoever arrived first', () => {
    const lane = new CarrierLane<LaneEntry>('c');
    // Campaign A's 300 messages arrive before any of B's 300.
    for (let i = 0; i < 300; i++)
      lane.push({
        id: `a${i}`,
        to: `+1312555${String(i).padStart(4, '0')}`,
        lane: 'bulk',
        flow: 'A',
        weight: 3,
      });
    for (let i = 0; i < 300; i++)
      lane.push({
        id: `b${i}`,
        to: `+1415555${String(i).padStart(4, '0')}`,
        lane: 'bulk',
        flow: 'B',
        weight: 1,
      });
    let room = 100;
    const block = lane.nextBlock(0, () => (room-- > 0 ? 'take' : 'stop'));
    const a = block.filter((e) => e.flow === 'A').length;
    expect(block).toHaveLength(100);
    expect(a).toBe(75);
    // Each flow still goes in its own arrival order.
    expect(block.filter((e) => e.flow === 'B').map((e) => e.id)).toEqual(
      Array.from({ length: 25 }, (_, i) => `b${i}`),
    );
    // Transactional (priority) work still comes before any campaign.
    lane.push({ id: 'p', to: '+12125550100', lane: 'priority' });
    expect(lane.nextBlock(0, () => 'take')[0].id).toBe('p');
  });

  it('keeps the weighted shares when every block holds a single message', () => {
    const lane = new CarrierLane<LaneEntry>('c');
    for (let i = 0; i < 100; i++)
      lane.push({
        id: `a${i}`,
        to: `+1312556${String(i).padStart(4, '0')}`,
        lane: 'bulk',
        flow: 'A',
        weight: 3,
      });
    for (let i = 0; i < 100; i++)
      lane.push({
        id: `b${i}`,
        to: `+1415556${String(i).padStart(4, '0')}`,
        lane: 'bulk',
        flow: 'B',
        weight: 1,
      });
    const taken: LaneEntry[] = [];
    for (let i = 0; i < 40; i++) {
      let room = 1;
      const [e] = lane.nextBlock(0, () => (room-- > 0 ? 'take' : 'stop'));
      taken.push(e);
      lane.done(e);
    }
    expect(taken.filter((e) => e.flow === 'A')).toHaveLength(30);
  });
  it('gives a campaign queued behind ten thousand of another its share from the first block', () => {
    const lane = new CarrierLane<LaneEntry>('c');
    for (let i = 0; i < 10_000; i++)
      lane.push({ id: `a${i}`, to: `+1312${String(5_550_000 + i)}`, lane: 'bulk', flow: 'A' });
    for (let i = 0; i < 100; i++)
      lane.push({ id: `b${i}`, to: `+1415${String(5_550_000 + i)}`, lane: 'bulk', flow: 'B' });
    // A's numbers that cannot go now (skipped) keep their place at the front of A.
    let room = 20;
    const block = lane.nextBlock(0, (e) => (e.id === 'a0' ? 'skip' : room-- > 0 ? 'take' : 'stop'));
    expect(block.filter((e) => e.flow === 'B').map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `b${i}`),
    );
    expect(block.filter((e) => e.flow === 'A').map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `a${i + 1}`),
    );
    room = 2;
    const next = lane.nextBlock(0, () => (room-- > 0 ? 'take' : 'stop'));
    expect(next.map((e) => e.id).sort()).toEqual(['a0', 'b10']);
  });
});
