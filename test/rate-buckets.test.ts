// The segment buckets' Redis script against the pure rules it implements (rates/token-bucket.ts
// reserveQueues), on the real Redis:
// - the same queues asked of fresh buckets get the same schedule from both (send times relative
//   to the first, grants per queue, the priority and weight tie-breaks);
// - two carriers' queues sharing a sender, reserved together in a loop as the dispatcher does,
//   each get their own carrier's full rate, and no one-second window holds more than a cap;
// - the send window every dispatcher process shares holds its limit across processes.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigService } from '../src/config/config.service';
import {
  BucketState,
  QueueAsk,
  Take,
  bucketParamsFor,
  reserveQueues,
} from '../src/modules/rates/token-bucket';
import { QueueCosts, TokenBucketStore } from '../src/modules/dispatch/token-buckets.service';
import { SharedSendWindow } from '../src/modules/dispatch/shared-window.service';
import { testEnv } from './support/env';

let redis: Redis;
let store: TokenBucketStore;

beforeAll(async () => {
  const env = testEnv();
  redis = new Redis(env.REDIS_URL, { lazyConnect: true });
  await redis.connect();
  store = new TokenBucketStore(redis, new ConfigService(env));
});

afterAll(async () => {
  await redis?.quit();
});

const key = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function queue(takes: Take[], n: number, over: Partial<QueueAsk> = {}): QueueAsk {
  return {
    chunks: Array.from({ length: n }, () => takes),
    priority: Array.from({ length: n }, () => false),
    weight: 1,
    served: 0,
    ...over,
  };
}

/** Send times relative to the earliest one, per queue, rounded to the script's 1 µs. */
function relative(sendAt: number[][]): number[][] {
  const first = Math.min(...sendAt.flat());
  return sendAt.map((ts) => ts.map((t) => Math.round((t - first) * 1000) / 1000));
}

describe('segment buckets in Redis', () => {
  it('schedules exactly as the pure rules do, ties included', async () => {
    const alpha = { key: key('carrier:alpha'), params: bucketParamsFor(50) };
    const beta = { key: key('carrier:beta'), params: bucketParamsFor(200) };
    const sender = { key: key('sender'), params: bucketParamsFor(120) };
    const campaign = { key: key('campaign'), params: bucketParamsFor(30) };
    const queues: QueueAsk[] = [
      queue(
        [
          { ...alpha, cost: 1 },
          { ...sender, cost: 1 },
        ],
        12,
      ),
      queue(
        [
          { ...beta, cost: 1 },
          { ...sender, cost: 1 },
        ],
        40,
        { weight: 3 },
      ),
      queue(
        [
          { ...beta, cost: 1 },
          { ...sender, cost: 1 },
          { ...campaign, cost: 1 },
        ],
        10,
      ),
      queue([{ ...beta, cost: 1 }], 5, { priority: [true, true, false, false, false], served: 7 }),
    ];
    const pure = reserveQueues(new Map<string, BucketState>(), queues, 0, 250);
    const redisSide = await store.reserve(queues as QueueCosts[], 250);
    expect(redisSide.sendAt.map((t) => t.length)).toEqual(pure.sendAt.map((t) => t.length));
    const got = relative(redisSide.sendAt);
    const want = relative(pure.sendAt);
    got.forEach((ts, q) => ts.forEach((t, i) => expect(t).toBeCloseTo(want[q][i], 2)));
    // The priority queue's two first chunks took beta's first tokens.
    expect(pure.sendAt[3][1]).toBeLessThan(Math.min(...pure.sendAt[1], ...pure.sendAt[2]));

    // Nothing more within reach: nothing granted, nothing charged, and a time to come back.
    const again = await store.reserve([queues[0] as QueueCosts], 0);
    expect(again.sendAt).toEqual([[]]);
    expect(again.retryInMs).toBeGreaterThan(0);
  });

  it('gives two carriers sharing a sender each its full rate, and keeps every window within its cap', async () => {
    const alphaCap = 50;
    const betaCap = 200;
    const alpha = { key: key('carrier:alpha'), params: bucketParamsFor(alphaCap) };
    const beta = { key: key('carrier:beta'), params: bucketParamsFor(betaCap) };
    const sender = { key: key('sender'), params: bucketParamsFor(5_000) };
    const queues: QueueCosts[] = [
      queue(
        [
          { ...alpha, cost: 1 },
          { ...sender, cost: 1 },
        ],
        20,
      ),
      queue(
        [
          { ...beta, cost: 1 },
          { ...sender, cost: 1 },
        ],
        60,
      ),
    ];
    const sent: number[][] = [[], []];
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      const r = await store.reserve(queues, 250);
      r.sendAt.forEach((ts, q) => sent[q].push(...ts));
      if (!r.sendAt.some((ts) => ts.length)) await sleep(r.retryInMs);
    }
    // One-second windows of the send times (what a carrier with no jitter would count); the times
    // are in this process's clock, converted from Redis's with an offset that moves by a few
    // microseconds as better samples come, which the J allowance absorbs.
    const window = 1000;
    const peak = (ts: number[]) => {
      const s = [...ts].sort((a, b) => a - b);
      let best = 0;
      for (let i = 0, j = 0; i < s.length; i++) {
        while (s[i] - s[j] >= window) j++;
        best = Math.max(best, i - j + 1);
      }
      return best;
    };
    const rate = (ts: number[]) => ((ts.length - 1) * 1000) / (Math.max(...ts) - Math.min(...ts));
    // Reserved apart, the sender's clock ran ahead of the slower carrier's and it lost 8–15 % (the
    // unit spec compares both ways); here only a stall of this process longer than the look-ahead
    // could cost anything, so 5 % is left for a busy machine.
    expect(rate(sent[0])).toBeGreaterThan(alpha.params.ratePerSecond * 0.95);
    expect(rate(sent[1])).toBeGreaterThan(beta.params.ratePerSecond * 0.95);
    expect(peak(sent[0])).toBeLessThanOrEqual(alphaCap);
    expect(peak(sent[1])).toBeLessThanOrEqual(betaCap);
  });
});

describe('the shared send window', () => {
  it('admits chunks from several processes together only while the last 1 + J seconds stay within the limit', async () => {
    const env = testEnv({ PARLEY_CARRIER_JITTER_MS: '40' });
    // Two dispatcher processes: two clients, one Redis.
    const other = new Redis(env.REDIS_URL);
    try {
      const a = new SharedSendWindow(redis, new ConfigService(env));
      const b = new SharedSendWindow(other, new ConfigService(env));
      const bucket = key('carrier:x:10');
      const take = (cost: number) => [{ key: bucket, cost, limit: 10 }];
      // 10 segments fit; the 11th, from either process, waits about the window's length.
      for (let i = 0; i < 5; i++) {
        expect(await a.admit(take(1))).toBe(0);
        expect(await b.admit(take(1))).toBe(0);
      }
      const wait = await b.admit(take(1));
      expect(wait).toBeGreaterThan(900);
      expect(wait).toBeLessThanOrEqual(1_040);
      // Refused asks are not counted: after the wait, exactly the first sends have left.
      expect(await a.admit(take(1))).toBeGreaterThan(0);
      // A chunk touching two buckets goes only if both have room, and counts in both.
      const sender = key('sender:y:100');
      expect(
        await a.admit([
          { key: bucket, cost: 1, limit: 10 },
          { key: sender, cost: 1, limit: 100 },
        ]),
      ).toBeGreaterThan(0);
      expect(await a.admit([{ key: sender, cost: 100, limit: 100 }])).toBe(0);
      expect(await b.admit([{ key: sender, cost: 1, limit: 100 }])).toBeGreaterThan(0);
    } finally {
      await other.quit();
    }
  });
});
