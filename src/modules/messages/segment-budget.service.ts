// The daily segment budget of each workspace, counted in Redis per UTC day: one script call per
// request or batch (never per message) admits the leading items that fit and adds their segments
// (INCRBY, with an expiry). Sets parley_workspace_budget_used_ratio and warns at 80 %.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Gauge } from 'prom-client';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { InjectRedis } from '../../infra/redis/redis.module';
import { budgetKey, budgetKeySeconds, crossedWarning } from './segment-budget';

// KEYS[1] the day's counter; ARGV[1] budget, ARGV[2] ttl, ARGV[3..] segments per item in order.
const ADMIT = `
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local budget = tonumber(ARGV[1])
local add = 0
local admitted = 0
for i = 3, #ARGV do
  local s = tonumber(ARGV[i])
  if used + add + s > budget then break end
  add = add + s
  admitted = admitted + 1
end
if add > 0 then
  used = redis.call('INCRBY', KEYS[1], add)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {admitted, used}
`;

export interface BudgetAnswer {
  /** How many leading items fit (all of them when the budget is unlimited). */
  admitted: number;
  /** Segments used today after this request (undefined: unlimited, not counted). */
  used?: number;
}

@Injectable()
export class SegmentBudgetService {
  private readonly ratio: Gauge<'workspace'>;
  /** The clock of the UTC day (replaced in tests). */
  clock: () => Date = () => new Date();

  constructor(
    @InjectRedis() private readonly redis: Redis,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.ratio = metrics.gauge(
      METRICS.workspaceBudgetUsed.name,
      "Share of the workspace's daily segment budget used today (UTC).",
      METRICS.workspaceBudgetUsed.labels,
    );
  }

  /** Admits the leading items whose segments fit in today's budget and counts them. */
  async admit(
    workspaceId: string,
    budget: number | null,
    segments: readonly number[],
  ): Promise<BudgetAnswer> {
    if (budget === null || segments.length === 0) return { admitted: segments.length };
    const now = this.clock();
    const [admitted, used] = (await this.redis.eval(
      ADMIT,
      1,
      budgetKey(workspaceId, now),
      budget,
      budgetKeySeconds(now),
      ...segments,
    )) as [number, number];
    const added = segments.slice(0, admitted).reduce((a, b) => a + b, 0);
    this.ratio.set({ workspace: workspaceId }, Math.min(used / budget, 1));
    if (crossedWarning(used - added, used, budget)) {
      this.log.warn(
        { workspace: workspaceId, used, budget },
        'workspace has used 80 % of its daily segment budget',
      );
    }
    return { admitted, used };
  }

  /** Gives back segments counted for messages that were then not accepted (best effort). */
  async refund(workspaceId: string, segments: number): Promise<void> {
    if (segments <= 0) return;
    await this.redis.decrby(budgetKey(workspaceId, this.clock()), segments).catch(() => undefined);
  }
}
