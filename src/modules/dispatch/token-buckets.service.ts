// The segment buckets in Redis, shared by every dispatcher process: one Lua script reserves a whole
// batch (chunk after chunk, each from all of its buckets at once: carrier, sender, campaign) on
// Redis's clock, with exactly the rules of token-bucket.ts `reserveChunks` (see there for the math
// and why no one-second window exceeds a cap).
//
// Send times come back in Redis's clock. They are turned into this process's clock with an offset
// measured NTP-style (the sample with the shortest round trip among recent ones), so a slow round
// trip delays nothing: a chunk reserved for T is sent at T, whatever the reply's latency was.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ConfigService } from '../../config/config.service';
import { InjectRedis } from '../../infra/redis/redis.module';
import type { BucketParams } from './token-bucket';

// KEYS: bucket hashes {tokens, at}. ARGV: maxAheadMs, chunk count, then capacity and rate per key,
// then each chunk's cost per key (chunk-major; 0 = the chunk does not use that bucket).
// Returns {granted, redisNowMs, retryInMs, sendAt offsets from now...}. Floats travel as strings
// because Redis truncates Lua numbers to integers.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ahead = tonumber(ARGV[1])
local nc = tonumber(ARGV[2])
local nk = #KEYS
local caps, rates, toks, ats, used = {}, {}, {}, {}, {}
for i = 1, nk do
  caps[i] = tonumber(ARGV[2 + (i - 1) * 2 + 1])
  rates[i] = tonumber(ARGV[2 + (i - 1) * 2 + 2])
  local s = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens, at = tonumber(s[1]), tonumber(s[2])
  if not tokens or not at then tokens = caps[i]; at = now end
  toks[i], ats[i], used[i] = tokens, at, false
end
local base = 2 + nk * 2
local out = {}
local last = now
local retry = 0
for c = 1, nc do
  local sendAt = last
  for i = 1, nk do
    local cost = tonumber(ARGV[base + (c - 1) * nk + i])
    if cost > 0 then
      local t0 = math.max(now, ats[i])
      local tok = math.min(caps[i], toks[i] + (t0 - ats[i]) * rates[i] / 1000)
      local need = math.min(cost, caps[i])
      local ready = t0
      if tok < need then ready = t0 + (need - tok) * 1000 / rates[i] end
      if ready > sendAt then sendAt = ready end
    end
  end
  if sendAt - now > ahead then
    if #out == 0 then retry = math.ceil(sendAt - now - ahead) end
    break
  end
  for i = 1, nk do
    local cost = tonumber(ARGV[base + (c - 1) * nk + i])
    if cost > 0 then
      toks[i] = math.min(caps[i], toks[i] + (sendAt - ats[i]) * rates[i] / 1000) - cost
      ats[i] = sendAt
      used[i] = true
    end
  end
  out[#out + 1] = string.format('%.3f', sendAt - now)
  last = sendAt
end
for i = 1, nk do
  if used[i] then
    redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', toks[i]), 'at', string.format('%.3f', ats[i]))
    -- An idle bucket is forgotten once it would be full again anyway.
    redis.call('PEXPIRE', KEYS[i], math.ceil(ats[i] - now + (caps[i] - toks[i]) * 1000 / rates[i]) + 1000)
  end
end
local reply = { #out, string.format('%.3f', now), retry }
for _, d in ipairs(out) do reply[#reply + 1] = d end
return reply
`;

export interface ChunkCost {
  key: string;
  params: BucketParams;
  cost: number;
}

export interface BatchReservation {
  /** Local epoch ms at which each granted chunk may leave: a prefix of the chunks asked for. */
  sendAt: number[];
  /** Nothing granted: come back after this long. */
  retryInMs: number;
}

const OFFSET_SAMPLES = 32;

/** Wall clock with sub-millisecond resolution. */
export const preciseNow = () => performance.timeOrigin + performance.now();

@Injectable()
export class TokenBucketStore {
  private readonly prefix: string;
  private samples: { rtt: number; offset: number }[] = [];

  constructor(
    @InjectRedis() private readonly redis: Redis,
    config: ConfigService,
  ) {
    this.prefix = `${config.env.KAFKA_TOPIC_PREFIX}parley:rate:`;
    if (!(this.redis as any).parleyReserve) this.redis.defineCommand('parleyReserve', { lua: RESERVE });
  }

  /** Reserves chunks in order, as many as fit within `maxAheadMs`; see token-bucket.ts. */
  async reserve(chunks: ChunkCost[][], maxAheadMs: number): Promise<BatchReservation> {
    const index = new Map<string, number>();
    const keys: ChunkCost[] = [];
    for (const c of chunks)
      for (const t of c)
        if (!index.has(t.key)) {
          index.set(t.key, keys.length);
          keys.push(t);
        }
    const args: string[] = [String(maxAheadMs), String(chunks.length)];
    for (const k of keys) args.push(String(k.params.capacity), String(k.params.ratePerSecond));
    for (const c of chunks) {
      const row = new Array<number>(keys.length).fill(0);
      for (const t of c) row[index.get(t.key)!] += t.cost;
      for (const v of row) args.push(String(v));
    }
    const sent = preciseNow();
    const reply = (await (this.redis as any).parleyReserve(
      keys.length,
      ...keys.map((k) => this.prefix + k.key),
      ...args,
    )) as (string | number)[];
    const received = preciseNow();
    const redisNow = Number(reply[1]);
    const offset = this.offsetFor(redisNow, sent, received);
    const granted = Number(reply[0]);
    const sendAt: number[] = [];
    for (let i = 0; i < granted; i++) sendAt.push(redisNow + Number(reply[3 + i]) - offset);
    return { sendAt, retryInMs: Number(reply[2]) };
  }

  /** Redis clock minus local clock, from the recent sample with the shortest round trip. */
  private offsetFor(redisNow: number, sent: number, received: number): number {
    this.samples.push({ rtt: received - sent, offset: redisNow - (sent + received) / 2 });
    if (this.samples.length > OFFSET_SAMPLES) this.samples.shift();
    let best = this.samples[0];
    for (const s of this.samples) if (s.rtt < best.rtt) best = s;
    return best.offset;
  }
}
