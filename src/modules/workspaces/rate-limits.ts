// The arithmetic of the API's rate limits, apart from Redis and Nest: which budget a request's
// headers report, how long a refused client waits, and how often a fail-open warning is logged.
// Pure (no framework imports), so it is tested in microseconds.

/** What one limiter said about one request: its budget, what is left, when its window ends. */
export interface BudgetState {
  scope: RateLimitScope;
  limit: number;
  remaining: number;
  msBeforeReset: number;
  allowed: boolean;
}

export type RateLimitScope = 'key' | 'workspace' | 'webhook';

export type RateLimitHeaders = Record<'RateLimit-Limit' | 'RateLimit-Remaining' | 'RateLimit-Reset', string>;

/** Whole seconds until a window ends, never 0 while some of it is left (clients would retry at once). */
export function secondsUntil(ms: number): number {
  return Math.max(1, Math.ceil(Math.max(0, ms) / 1000));
}

/**
 * The budget a request's headers report: a refusing one first (the client must see why it waits),
 * then the one with the fewest requests left, so the headers never promise more than all allow.
 */
export function bindingBudget(states: readonly BudgetState[]): BudgetState | undefined {
  let best: BudgetState | undefined;
  for (const s of states) {
    if (!best) best = s;
    else if (s.allowed !== best.allowed) best = s.allowed ? best : s;
    else if (s.remaining < best.remaining) best = s;
    else if (s.remaining === best.remaining && s.msBeforeReset > best.msBeforeReset) best = s;
  }
  return best;
}

export function rateLimitHeaders(s: BudgetState): RateLimitHeaders {
  return {
    'RateLimit-Limit': String(s.limit),
    'RateLimit-Remaining': String(Math.max(0, s.remaining)),
    'RateLimit-Reset': String(secondsUntil(s.msBeforeReset)),
  };
}

/** True at most once per `everyMs`: a log line for an outage, not one per request. */
export class WarnThrottle {
  private last = Number.NEGATIVE_INFINITY;
  constructor(private readonly everyMs = 60_000) {}

  due(now: number): boolean {
    if (now - this.last < this.everyMs) return false;
    this.last = now;
    return true;
  }
}
