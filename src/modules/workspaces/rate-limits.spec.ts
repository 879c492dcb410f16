import { describe, expect, it } from 'vitest';
import { BudgetState, WarnThrottle, bindingBudget, rateLimitHeaders, secondsUntil } from './rate-limits';

const state = (over: Partial<BudgetState>): BudgetState => ({
  scope: 'key',
  limit: 100,
  remaining: 50,
  msBeforeReset: 400,
  allowed: true,
  ...over,
});

describe('secondsUntil', () => {
  it('rounds up and never answers 0', () => {
    expect(secondsUntil(0)).toBe(1);
    expect(secondsUntil(-5)).toBe(1);
    expect(secondsUntil(1)).toBe(1);
    expect(secondsUntil(1000)).toBe(1);
    expect(secondsUntil(1001)).toBe(2);
  });
});

describe('bindingBudget', () => {
  it('reports the budget with the fewest requests left', () => {
    const key = state({ scope: 'key', limit: 100, remaining: 90 });
    const ws = state({ scope: 'workspace', limit: 200, remaining: 10 });
    expect(bindingBudget([key, ws])).toBe(ws);
    expect(bindingBudget([ws, key])).toBe(ws);
  });

  it('reports a refusing budget before one with fewer left', () => {
    const refused = state({ scope: 'workspace', remaining: 3, allowed: false });
    const tight = state({ scope: 'key', remaining: 0, allowed: true });
    expect(bindingBudget([tight, refused])).toBe(refused);
    expect(bindingBudget([refused, tight])).toBe(refused);
  });

  it('on a tie, reports the one that resets later', () => {
    const a = state({ scope: 'key', remaining: 5, msBeforeReset: 100 });
    const b = state({ scope: 'workspace', remaining: 5, msBeforeReset: 900 });
    expect(bindingBudget([a, b])).toBe(b);
  });

  it('has nothing to report without budgets', () => {
    expect(bindingBudget([])).toBeUndefined();
  });
});

describe('rateLimitHeaders', () => {
  it('gives the limit, what is left (never negative) and the reset in seconds', () => {
    expect(rateLimitHeaders(state({ limit: 5, remaining: -2, msBeforeReset: 1500 }))).toEqual({
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '2',
    });
  });
});

describe('WarnThrottle', () => {
  it('is due once per interval', () => {
    const t = new WarnThrottle(60_000);
    expect(t.due(1_000)).toBe(true);
    expect(t.due(2_000)).toBe(false);
    expect(t.due(60_999)).toBe(false);
    expect(t.due(61_000)).toBe(true);
  });
});
