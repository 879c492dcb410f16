import { describe, expect, it } from 'vitest';
import { FilterError, parseFilter } from './segment-filter';

const pathOf = (f: unknown) => {
  try {
    parseFilter(f);
  } catch (e) {
    if (e instanceof FilterError) return e.path;
    throw e;
  }
  return 'ok';
};

describe('segment filter', () => {
  it('accepts the documented example', () => {
    expect(
      parseFilter({
        and: [
          { attr: 'tier', eq: 'gold' },
          { field: 'country', in: ['US', 'CA'] },
        ],
      }),
    ).toEqual({
      kind: 'and',
      nodes: [
        { kind: 'compare', target: { kind: 'attr', name: 'tier' }, op: 'eq', value: 'gold' },
        { kind: 'in', target: { kind: 'text', name: 'country' }, values: ['US', 'CA'] },
      ],
    });
  });

  it('names the path of an unknown operator or a wrong type', () => {
    expect(
      pathOf({
        and: [
          { attr: 'a', eq: 1 },
          { field: 'country', in: 'US' },
        ],
      }),
    ).toBe('filter.and[1].in');
    expect(pathOf({ or: [{ attr: 'a', like: 'x' }] })).toBe('filter.or[0].like');
    expect(pathOf({ not: { field: 'nope', eq: 'x' } })).toBe('filter.not.field');
    expect(pathOf({ attr: 'a', exists: 'yes' })).toBe('filter.exists');
    expect(pathOf({ field: 'country', in: ['US', 3] })).toBe('filter.in[1]');
    expect(pathOf({ attr: 'age', gt: true })).toBe('filter.gt');
    expect(pathOf({ field: 'created_at', gt: 'soon' })).toBe('filter.gt');
    expect(pathOf({ and: [] })).toBe('filter.and');
    expect(pathOf({ xor: [] })).toBe('filter.xor');
    expect(pathOf([1])).toBe('filter');
    expect(pathOf({ attr: 'a', eq: 1, neq: 2 })).toBe('filter');
  });

  it('limits depth', () => {
    let f: unknown = { attr: 'a', exists: true };
    for (let i = 0; i < 20; i++) f = { not: f };
    expect(() => parseFilter(f)).toThrow(/nest at most/);
  });
});
