import { describe, expect, it } from 'vitest';
import { StageTimings } from './stage-timings';

describe('StageTimings', () => {
  it('sums per stage between two reads and starts over', () => {
    const t = new StageTimings();
    t.add('claim', 10);
    t.add('claim', 30);
    t.add('submit', 2);
    expect(t.take()).toEqual({
      claim: { n: 2, avgMs: 20, maxMs: 30 },
      submit: { n: 1, avgMs: 2, maxMs: 2 },
    });
    expect(t.take()).toEqual({});
  });
});
