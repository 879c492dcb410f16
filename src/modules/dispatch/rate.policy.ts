// Which buckets a message pays into: its carrier, its sender, and its campaign when the campaign
// has its own cap. Pure; the Redis store (token-buckets.service.ts) does the taking.
import { BucketParams, RateTuning, Take, bucketParamsFor } from '../rates/token-bucket';

export interface RateSubject {
  carrier: { id: string; segments_per_second: number };
  sender?: { address: string; segments_per_second: number };
  campaign?: { id: string; maxSegmentsPerSecond?: number };
  segments: number;
}

export interface BucketSpec {
  key: string;
  params: BucketParams;
}

/**
 * A policy names the buckets of a message. Add a scope (a workspace cap, a daily allowance shaped
 * as a bucket) by returning one more spec; the store takes all of them or none.
 */
export interface RatePolicy {
  bucketsOf(subject: RateSubject): BucketSpec[];
}

export class SegmentRatePolicy implements RatePolicy {
  private readonly cache = new Map<string, BucketParams>();

  constructor(private readonly tuning: RateTuning) {}

  bucketsOf(s: RateSubject): BucketSpec[] {
    const specs = [this.spec(`carrier:${s.carrier.id}`, s.carrier.segments_per_second)];
    if (s.sender) specs.push(this.spec(`sender:${s.sender.address}`, s.sender.segments_per_second));
    const cap = s.campaign?.maxSegmentsPerSecond;
    if (s.campaign && cap && cap > 0) specs.push(this.spec(`campaign:${s.campaign.id}`, cap));
    return specs;
  }

  /** Bucket parameters per cap; carriers and senders have few distinct caps. */
  paramsFor(cap: number): BucketParams {
    let p = this.cache.get(String(cap));
    if (!p) this.cache.set(String(cap), (p = bucketParamsFor(cap, this.tuning)));
    return p;
  }

  private spec(key: string, cap: number): BucketSpec {
    // The cap is part of the key so a changed cap starts a fresh bucket instead of inheriting
    // state computed for another rate.
    return { key: `${key}:${cap}`, params: this.paramsFor(cap) };
  }
}

/**
 * Accumulates costs per bucket while a lane builds a block: a message fits if every bucket it pays
 * into stays within its limit (the first message always fits: a lump larger than a chunk is
 * granted alone, from a full bucket). The limit is the bucket's capacity for a chunk (one take),
 * or `aheadMs` worth of its rate for a batch (one claim, several chunks).
 */
export class BlockBudget {
  private readonly costs = new Map<string, Take>();
  private messages = 0;

  constructor(private readonly aheadMs = 0) {}

  fits(specs: BucketSpec[], segments: number): boolean {
    if (this.messages === 0) return true;
    return specs.every((b) => (this.costs.get(b.key)?.cost ?? 0) + segments <= this.limit(b));
  }

  private limit(b: BucketSpec): number {
    return Math.max(b.params.capacity, (b.params.ratePerSecond * this.aheadMs) / 1000);
  }

  add(specs: BucketSpec[], segments: number): void {
    this.messages++;
    for (const b of specs) {
      const t = this.costs.get(b.key);
      if (t) t.cost += segments;
      else this.costs.set(b.key, { key: b.key, params: b.params, cost: segments });
    }
  }

  get size(): number {
    return this.messages;
  }

  takes(): Take[] {
    return [...this.costs.values()];
  }
}

/** Splits a batch into chunks that each fit every bucket's capacity, keeping the batch's order. */
export function chunksOf<T>(items: T[], specsOf: (t: T) => BucketSpec[], segmentsOf: (t: T) => number) {
  const chunks: { items: T[]; budget: BlockBudget }[] = [];
  let cur: { items: T[]; budget: BlockBudget } | undefined;
  for (const it of items) {
    const specs = specsOf(it);
    const n = segmentsOf(it);
    if (!cur || !cur.budget.fits(specs, n)) chunks.push((cur = { items: [], budget: new BlockBudget() }));
    cur.items.push(it);
    cur.budget.add(specs, n);
  }
  return chunks;
}
