import { describe, expect, it } from 'vitest';
import { NumberSet } from './number-set';

describe('NumberSet', () => {
  it('adds each number once, across growth, like a Set', () => {
    const s = new NumberSet(4);
    const ref = new Set<number>();
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let i = 0; i < 50_000; i++) {
      // Neighbouring numbers (one range of a carrier), far ones, and repeats.
      const n = i % 3 === 0 ? 14155550000 + (i % 997) : 100000000000000 + next() * 3;
      expect(s.add(n)).toBe(!ref.has(n));
      ref.add(n);
    }
    expect(s.size).toBe(ref.size);
    for (const n of ref) expect(s.has(n)).toBe(true);
    expect(s.has(14155550000 + 998)).toBe(false);
    expect(s.has(999999999999999)).toBe(false);
  });

  it('holds the largest E.164 numbers exactly and refuses what is not a positive integer', () => {
    const s = new NumberSet();
    expect(s.add(999999999999999)).toBe(true);
    expect(s.add(999999999999998)).toBe(true);
    expect(s.add(999999999999999)).toBe(false);
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53 + 2]) expect(() => s.add(bad)).toThrow(RangeError);
  });
});
