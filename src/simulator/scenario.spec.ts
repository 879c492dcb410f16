import { describe, expect, it } from 'vitest';
import { outcomeFor, parseScenario, patchScenario, pickWeighted, replyFor, ruleFor, unit } from './scenario';

describe('scenario', () => {
  it('has working defaults and normalises ranges', () => {
    const s = parseScenario({ latency_ms: 5, receipt_delay_ms: { min: 10, max: 5 } });
    expect(s.latency_ms).toEqual({ min: 5, max: 5 });
    expect(s.receipt_delay_ms).toEqual({ min: 10, max: 10 });
    expect(s.outcomes.delivered).toBe(0.95);
    expect(s.replies.fraction).toBe(0);
    expect(s.replies.pools.length).toBeGreaterThan(0);
  });

  it('patches top-level fields and ignores runtime actions', () => {
    const s = patchScenario(parseScenario({ seed: 7 }), { latency_ms: 20, throttle_all_seconds: 3 });
    expect(s.seed).toBe(7);
    expect(s.latency_ms).toEqual({ min: 20, max: 20 });
    expect(() => patchScenario(s, { latency_ms: -1 })).toThrow();
  });

  it('draws deterministically from the seed, whatever the order', () => {
    expect(unit(1, 'a', 2)).toBe(unit(1, 'a', 2));
    expect(unit(1, 'a', 2)).not.toBe(unit(2, 'a', 2));
    const xs = Array.from({ length: 10_000 }, (_, i) => unit(3, 'm', i));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('picks outcomes in proportion to their weights', () => {
    const s = parseScenario({ seed: 11, outcomes: { delivered: 0.9, undelivered: 0.1 } });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 5_000; i++) {
      const o = outcomeFor(s, `m${i}`);
      counts[o] = (counts[o] ?? 0) + 1;
    }
    expect(counts.delivered / 5_000).toBeGreaterThan(0.87);
    expect(counts.delivered / 5_000).toBeLessThan(0.93);
    expect(counts.expired).toBeUndefined();
    expect(pickWeighted({ a: 0, b: 1 }, 0.1)).toBe('b');
    expect(pickWeighted({}, 0.5)).toBeUndefined();
  });

  it('lets a fraction of recipients reply with texts from the pools, and rules win', () => {
    const s = parseScenario({
      seed: 5,
      replies: { fraction: 0.3, pools: [{ weight: 1, texts: ['YES', 'STOP'] }] },
    });
    const replies = Array.from({ length: 2_000 }, (_, i) => replyFor(s, `m${i}`)).filter(Boolean);
    expect(replies.length / 2_000).toBeGreaterThan(0.26);
    expect(replies.length / 2_000).toBeLessThan(0.34);
    expect(new Set(replies)).toEqual(new Set(['YES', 'STOP']));
    const rules = [
      { prefix: '+1', outcome: 'undelivered' as const },
      { prefix: '+1555', reply: 'when will my order arrive?' },
    ];
    expect(ruleFor(rules, '+15550001')?.reply).toBe('when will my order arrive?');
    expect(ruleFor(rules, '+1415')?.outcome).toBe('undelivered');
    expect(ruleFor(rules, '+44')).toBeUndefined();
    expect(outcomeFor(s, 'x', rules[0])).toBe('undelivered');
  });
});
