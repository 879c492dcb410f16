// The API's request budgets in Redis (rate-limiter-flexible's RateLimiterRedis on the engine's
// client), one fixed one-second window per API key, per workspace and per connector's webhooks,
// so the limits hold across every api process. The arithmetic is in rate-limits.ts.
import { Injectable, Optional } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ConfigService } from '../../config/config.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { InjectRedis } from '../../infra/redis/redis.module';
import { BudgetState, RateLimitScope, WarnThrottle } from './rate-limits';

export interface Budget {
  scope: RateLimitScope;
  id: string;
}

const PREFIX: Record<RateLimitScope, string> = {
  key: 'parley:rl:key',
  workspace: 'parley:rl:ws',
  webhook: 'parley:rl:hook',
};

@Injectable()
export class ApiRateLimiter {
  private readonly limiters: Record<RateLimitScope, RateLimiterRedis>;
  private readonly warnings = new WarnThrottle(60_000);

  constructor(
    @InjectRedis() redis: Redis,
    config: ConfigService,
    @Optional() private readonly log?: AppLogger,
  ) {
    const limiter = (scope: RateLimitScope, points: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: PREFIX[scope],
        points,
        duration: 1,
        // While the client is reconnecting, answer at once (and fail open) instead of queueing
        // every request's check behind the reconnection.
        rejectIfRedisNotReady: true,
      });
    const env = config.env;
    this.limiters = {
      key: limiter('key', env.PARLEY_RATE_LIMIT_KEY_PER_SECOND),
      workspace: limiter('workspace', env.PARLEY_RATE_LIMIT_WORKSPACE_PER_SECOND),
      webhook: limiter('webhook', env.PARLEY_RATE_LIMIT_WEBHOOK_PER_SECOND),
    };
  }

  /**
   * Takes one request from each budget in order and stops at the first that refuses, so a key over
   * its own budget does not also spend its workspace's (its siblings keep theirs). Undefined when
   * Redis did not answer: the limiter fails open, because a Redis outage must not take the whole
   * API down with it; the warning is logged at most once a minute, not once per request.
   */
  async consume(budgets: readonly Budget[]): Promise<BudgetState[] | undefined> {
    const states: BudgetState[] = [];
    for (const b of budgets) {
      const limiter = this.limiters[b.scope];
      try {
        const res = await limiter.consume(b.id);
        states.push(toState(b.scope, limiter.points, res, true));
      } catch (err: unknown) {
        if (err instanceof RateLimiterRes) {
          states.push(toState(b.scope, limiter.points, err, false));
          return states;
        }
        if (this.warnings.due(Date.now())) {
          this.log?.pino.warn(
            { err },
            'rate limits unavailable (Redis did not answer): requests pass unlimited',
          );
        }
        return undefined;
      }
    }
    return states;
  }
}

function toState(scope: RateLimitScope, limit: number, res: RateLimiterRes, allowed: boolean): BudgetState {
  return { scope, limit, remaining: res.remainingPoints, msBeforeReset: res.msBeforeNext, allowed };
}
