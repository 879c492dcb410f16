// The segment buckets in Redis, shared by every dispatcher process: one Lua script reserves the
// waiting chunks of every queue of a process at once (each chunk from all of its buckets at once:
// carrier, sender, campaign), merged in time order on Redis's clock, with exactly the rules of
// rates/token-bucket.ts `reserveQueues` (see there for the math, why no one-second window exceeds a cap,
// and why queues sharing a bucket are reserved together).
//
// Send times come back in Redis's clock. They are turned into this process's clock with an offset
// measured NTP-style (the sample with the shortest round trip among recent ones), so a slow round
// trip delays nothing: a chunk reserved for T is sent at T, whatever the reply's latency was.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ConfigService } from '../../config/config.service';
import { InjectRedis } from '../../infra/redis/redis.module';
import type { BucketParams, QueueAsk, QueuesReservation } from '../rates/token-bucket';

// KEYS: bucket hashes {tokens, at}. ARGV: maxAheadMs, queue count, then capacity and rate per key,
// then per queue its chunk count, weight and served, then per queue per chunk its priority flag
// (1/0) and its cost per key (0 = the chunk does not use that bucket).
// Returns {granted, redisNowMs, retryInMs, then per grant its queue (1-based) and its send time as
// an offset from now}, grants in time order. Floats travel as strings because Redis truncates Lua
// numbers to integers.
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ahead = tonumber(ARGV[1])
local nq = tonumber(ARGV[2])
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
local p = 2 + nk * 2
local qn, qw, qs, qbase, qnext, qlast = {}, {}, {}, {}, {}, {}
for q = 1, nq do
  qn[q] = tonumber(ARGV[p + 1]); qw[q] = tonumber(ARGV[p + 2]); qs[q] = tonumber(ARGV[p + 3])
  p = p + 3
end
for q = 1, nq do
  qbase[q] = p; qnext[q] = 1; qlast[q] = now
  p = p + qn[q] * (1 + nk)
end
local out = {}
local granted, retry = 0, 0
while true do
  local best, bestAt, bestPrio = 0, 0, 0
  for q = 1, nq do
    if qnext[q] <= qn[q] then
      local row = qbase[q] + (qnext[q] - 1) * (1 + nk)
      local at = qlast[q]
      for i = 1, nk do
        local cost = tonumber(ARGV[row + 1 + i])
        if cost > 0 then
          local t0 = math.max(now, ats[i])
          local tok = math.min(caps[i], toks[i] + (t0 - ats[i]) * rates[i] / 1000)
          local need = math.min(cost, caps[i])
          local ready = t0
          if tok < need then ready = t0 + (need - tok) * 1000 / rates[i] end
          if ready > at then at = ready end
        end
      end
      local prio = tonumber(ARGV[row + 1])
      if best == 0 or at < bestAt - 1e-6 then
        best, bestAt, bestPrio = q, at, prio
      elseif at <= bestAt + 1e-6 and (prio > bestPrio or (prio == bestPrio and qs[q] < qs[best])) then
        best, bestAt, bestPrio = q, at, prio
      end
    end
  end
  if best == 0 then break end
  if bestAt - now > ahead then
    if granted == 0 then retry = math.ceil(bestAt - now - ahead) end
    break
  end
  local row = qbase[best] + (qnext[best] - 1) * (1 + nk)
  local segments = 0
  for i = 1, nk do
    local cost = tonumber(ARGV[row + 1 + i])
    if cost > 0 then
      toks[i] = math.min(caps[i], toks[i] + (bestAt - ats[i]) * rates[i] / 1000) - cost
      ats[i] = bestAt
      used[i] = true
      if cost > segments then segments = cost end
    end
  end
  qs[best] = qs[best] + segments / qw[best]
  qlast[best] = bestAt
  qnext[best] = qnext[best] + 1
  granted = granted + 1
  out[#out + 1] = best
  out[#out + 1] = string.format('%.3f', bestAt - now)
end
for i = 1, nk do
  if used[i] then
    redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', toks[i]), 'at', string.format('%.3f', ats[i]))
    -- An idle bucket is forgotten once it would be full again anyway.
    redis.call('PEXPIRE', KEYS[i], math.ceil(ats[i] - now + (caps[i] - toks[i]) * 1000 / rates[i]) + 1000)
  end
end
local reply = { granted, string.format('%.3f', now), retry }
for _, v in ipairs(out) do reply[#reply + 1] = v end
return reply
`;

export interface ChunkCost {
  key: string;
  params: BucketParams;
  cost: number;
}

/** One queue's chunks in a merged reservation (see rates/token-bucket.ts QueueAsk). */
export type QueueCosts = QueueAsk;

const OFFSET_SAMPLES = 32;

/** Wall clock with sub-millisecond resolution. */
export const preciseNow = () => performance.timeOrigin + performance.now();

/** The Lua script below, defined on the connection as a command. */
interface ReserveCommand {
  parleyReserveQueues(numKeys: number, ...args: string[]): Promise<unknown>;
}

@Injectable()
export class TokenBucketStore {
  private readonly prefix: string;
  private samples: { rtt: number; offset: number }[] = [];

  constructor(
    @InjectRedis() private readonly redis: Redis,
    config: ConfigService,
  ) {
    this.prefix = `${config.env.KAFKA_TOPIC_PREFIX}parley:rate:`;
    if (!(this.redis as Partial<ReserveCommand>).parleyReserveQueues)
      this.redis.defineCommand('parleyReserveQueues', { lua: RESERVE });
  }

  /**
   * Reserves the chunks of several queues at once, merged in time order, as many as fit within
   * `maxAheadMs`; see rates/token-bucket.ts reserveQueues. Send times come back in this process's clock
   * (epoch ms).
   */
  async reserve(queues: QueueCosts[], maxAheadMs: number): Promise<QueuesReservation> {
    const index = new Map<string, number>();
    const keys: ChunkCost[] = [];
    for (const q of queues)
      for (const c of q.chunks)
        for (const t of c)
          if (!index.has(t.key)) {
            index.set(t.key, keys.length);
            keys.push(t);
          }
    const args: string[] = [String(maxAheadMs), String(queues.length)];
    for (const k of keys) args.push(String(k.params.capacity), String(k.params.ratePerSecond));
    for (const q of queues) args.push(String(q.chunks.length), String(q.weight), String(q.served));
    for (const q of queues)
      q.chunks.forEach((c, i) => {
        const row = new Array<number>(keys.length).fill(0);
        for (const t of c) row[index.get(t.key)!] += t.cost;
        args.push(q.priority[i] ? '1' : '0');
        for (const v of row) args.push(String(v));
      });
    const sent = preciseNow();
    const reply = (await (this.redis as Redis & ReserveCommand).parleyReserveQueues(
      keys.length,
      ...keys.map((k) => this.prefix + k.key),
      ...args,
    )) as (string | number)[];
    const received = preciseNow();
    const redisNow = Number(reply[1]);
    const offset = this.offsetFor(redisNow, sent, received);
    const granted = Number(reply[0]);
    const sendAt: number[][] = queues.map(() => []);
    for (let i = 0; i < granted; i++)
      sendAt[Number(reply[3 + 2 * i]) - 1].push(redisNow + Number(reply[4 + 2 * i]) - offset);
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
