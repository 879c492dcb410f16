// The send window every dispatcher process shares: what actually left for each bucket (carrier,
// sender, campaign) over the last 1 + J seconds, on Redis's clock. The token buckets keep every
// window under its cap as long as sends leave at their reserved times; a process that stalled (a
// garbage collection, the database or broker away a moment) sends late, and its late sends could
// bunch with another process's on-time ones in one carrier second. Each chunk, right before it
// leaves, passes one atomic check-and-add here: if it would put any of its buckets' window over
// the limit, it waits instead (the script says how long) and nothing is recorded.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ConfigService } from '../../config/config.service';
import { InjectRedis } from '../../infra/redis/redis.module';

// KEYS: per bucket a list of "ms:cost" entries and a sum key. ARGV: windowMs, then per bucket its
// cost and limit. Returns 0 when admitted (and recorded at Redis's now), else the ms to wait.
const CHECK_AND_ADD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local n = #KEYS / 2
local sums, waits = {}, 0
for i = 1, n do
  local list, sumk = KEYS[2 * i - 1], KEYS[2 * i]
  local sum = tonumber(redis.call('GET', sumk) or '0')
  while true do
    local head = redis.call('LINDEX', list, 0)
    if not head then break end
    local sep = string.find(head, ':', 1, true)
    local at = tonumber(string.sub(head, 1, sep - 1))
    if at > now - w then break end
    redis.call('LPOP', list)
    sum = sum - tonumber(string.sub(head, sep + 1))
  end
  if sum < 0 then sum = 0 end
  sums[i] = sum
  local cost, limit = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local excess = sum + cost - limit
  if excess > 0 then
    -- Wait until enough of the oldest sends have left the window (all of them for a lump).
    local entries = redis.call('LRANGE', list, 0, -1)
    local wait = 0
    for _, e in ipairs(entries) do
      local sep = string.find(e, ':', 1, true)
      excess = excess - tonumber(string.sub(e, sep + 1))
      wait = tonumber(string.sub(e, 1, sep - 1)) + w - now
      if excess <= 0 then break end
    end
    if wait < 1 then wait = 1 end
    if wait > waits then waits = wait end
  end
end
for i = 1, n do redis.call('SET', KEYS[2 * i], sums[i], 'PX', w + 1000) end
if waits > 0 then return waits end
for i = 1, n do
  local list, sumk = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('RPUSH', list, now .. ':' .. ARGV[2 * i])
  redis.call('PEXPIRE', list, w + 1000)
  redis.call('SET', sumk, sums[i] + tonumber(ARGV[2 * i]), 'PX', w + 1000)
end
return 0
`;

export interface WindowTake {
  /** The bucket's key (as the token buckets name it). */
  key: string;
  cost: number;
  /** Most segments its window may hold. */
  limit: number;
}

type WithScript = Redis & { parleyWindow(keys: number, ...args: (string | number)[]): Promise<number> };

@Injectable()
export class SharedSendWindow {
  private readonly prefix: string;
  readonly windowMs: number;

  constructor(
    @InjectRedis() private readonly redis: Redis,
    config: ConfigService,
  ) {
    this.prefix = `${config.env.KAFKA_TOPIC_PREFIX}parley:window:`;
    this.windowMs = 1000 + config.env.PARLEY_CARRIER_JITTER_MS;
    if (!('parleyWindow' in this.redis)) this.redis.defineCommand('parleyWindow', { lua: CHECK_AND_ADD });
  }

  /** 0 when the chunk may leave now (and is counted), else how many ms to wait before asking again. */
  async admit(takes: readonly WindowTake[]): Promise<number> {
    if (!takes.length) return 0;
    const keys: string[] = [];
    const args: (string | number)[] = [this.windowMs];
    for (const t of takes) {
      keys.push(`${this.prefix}${t.key}`, `${this.prefix}${t.key}:sum`);
      args.push(t.cost, t.limit);
    }
    return Number(await (this.redis as unknown as WithScript).parleyWindow(keys.length, ...keys, ...args));
  }
}
