// Rate-limit benchmark: what the API's rate-limit check costs a request. Times N checks through
// ApiRateLimiter (one API key budget plus its workspace's: two Lua calls to Redis, as RateLimitGuard
// makes them) and N single consume() calls, against a baseline of N Redis PINGs on the same client
// in the same run. Sequential (the latency one request pays) and with C in flight (throughput).
// Limits are set high so no check is refused. Needs Redis at REDIS_URL (default 127.0.0.1:6379).
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/rate-limit/bench.js [--n 20000] [--concurrency 64]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import IORedis from 'ioredis';
import { parseEnv } from '../../src/config/config.schema';
import { ConfigService } from '../../src/config/config.service';
import { redisOptions } from '../../src/infra/redis/redis.module';
import { ApiRateLimiter, Budget } from '../../src/modules/workspaces/api-rate-limiter';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '20000' }, concurrency: { type: 'string', default: '64' } },
});
const n = Number(values.n);
const concurrency = Number(values.concurrency);

async function timed(label: string, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) await op(next++);
    }),
  );
  const usPerOp = ((performance.now() - t0) * 1000) / n;
  console.log(
    `  ${label.padEnd(44)} ${usPerOp.toFixed(1).padStart(7)} µs/op  ${Math.round(1e6 / usPerOp)} op/s`,
  );
  return usPerOp;
}

async function main() {
  const env = parseEnv({
    ...process.env,
    PARLEY_RATE_LIMIT_KEY_PER_SECOND: '1000000',
    PARLEY_RATE_LIMIT_WORKSPACE_PER_SECOND: '1000000',
  });
  const redis = new IORedis(redisOptions(env.REDIS_URL));
  await redis.ping();
  const limiter = new ApiRateLimiter(redis, new ConfigService(env));
  const run = randomBytes(4).toString('hex');
  const check: Budget[] = [
    { scope: 'key', id: `bench-${run}-key` },
    { scope: 'workspace', id: `bench-${run}-ws` },
  ];
  const single: Budget[] = [{ scope: 'key', id: `bench-${run}-single` }];
  // Warm-up: connection, Lua script loaded (EVALSHA afterwards), JIT.
  for (let i = 0; i < 500; i++) {
    await redis.ping();
    await limiter.consume(check);
  }

  try {
    for (const inFlight of [1, concurrency]) {
      console.log(`n = ${n}, ${inFlight === 1 ? 'sequential' : `${inFlight} in flight`}:`);
      const ping = await timed('baseline: Redis PING', inFlight, () => redis.ping());
      const one = await timed('consume(), one budget', inFlight, () => limiter.consume(single));
      const both = await timed('check per request (key + workspace)', inFlight, () => limiter.consume(check));
      console.log(
        `  → one consume() = ${(one / ping).toFixed(2)}× a PING; a request's check = ${(both / ping).toFixed(2)}× a PING`,
      );
    }
  } finally {
    await redis.quit();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
