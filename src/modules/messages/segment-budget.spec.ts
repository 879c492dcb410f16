import { describe, expect, it } from 'vitest';
import { admitInOrder, budgetKey, budgetKeySeconds, crossedWarning } from './segment-budget';

describe('daily segment budget', () => {
  it('keys the counter by workspace and UTC day', () => {
    expect(budgetKey('ws1', new Date('2026-12-07T23:59:59Z'))).toBe('parley:budget:ws1:2026-12-07');
    expect(budgetKey('ws1', new Date('2026-12-08T00:00:00Z'))).toBe('parley:budget:ws1:2026-12-08');
  });

  it('keeps the counter until a day after its day ends', () => {
    expect(budgetKeySeconds(new Date('2026-12-07T23:00:00Z'))).toBe(3600 + 24 * 3600);
  });

  it('admits the leading items that fit and refuses the rest in order', () => {
    expect(admitInOrder(0, 10, [3, 3, 3])).toBe(3);
    expect(admitInOrder(5, 10, [3, 3, 1])).toBe(1);
    expect(admitInOrder(10, 10, [1])).toBe(0);
    expect(admitInOrder(0, 10, [])).toBe(0);
  });

  it('warns once, when a request crosses 80 %', () => {
    expect(crossedWarning(70, 80, 100)).toBe(true);
    expect(crossedWarning(80, 90, 100)).toBe(false);
    expect(crossedWarning(10, 20, 100)).toBe(false);
  });
});
