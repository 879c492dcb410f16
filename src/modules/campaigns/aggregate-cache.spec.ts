import { describe, expect, it } from 'vitest';
import { AggregateCache } from './aggregate-cache';

describe('AggregateCache', () => {
  const setup = () => {
    let t = 0;
    const cache = new AggregateCache<number>(3, () => t);
    let calls = 0;
    // A load that takes 5 ms of the fake clock and returns how many loads ran so far.
    const load = async () => {
      calls++;
      t += 5;
      return calls;
    };
    return { cache, load, advance: (ms: number) => (t += ms), calls: () => calls };
  };

  it('reuses a value until it is older than the age asked for, then loads again', async () => {
    const { cache, load, advance } = setup();
    expect(await cache.get('a', 100, load)).toBe(1);
    advance(99);
    expect(await cache.get('a', 100, load)).toBe(1);
    advance(1);
    expect(await cache.get('a', 100, load)).toBe(2);
    // Age 0: every call loads.
    expect(await cache.get('a', 0, load)).toBe(3);
    expect(await cache.get('a', 0, load)).toBe(4);
  });

  it('shares one load between concurrent callers and keeps keys apart', async () => {
    const { cache, load, calls } = setup();
    const [x, y] = await Promise.all([cache.get('a', 0, load), cache.get('a', 0, load)]);
    expect([x, y, calls()]).toEqual([1, 1, 1]);
    expect(await cache.get('b', 1_000, load)).toBe(2);
  });

  it('loads afresh after forget', async () => {
    const { cache, load } = setup();
    await cache.get('a', 10_000, load);
    cache.forget('a');
    expect(await cache.get('a', 10_000, load)).toBe(2);
  });

  it('does not keep a failure', async () => {
    const { cache } = setup();
    await expect(cache.get('a', 10_000, () => Promise.reject(new Error('db away')))).rejects.toThrow(
      'db away',
    );
    expect(await cache.get('a', 10_000, async () => 7)).toBe(7);
  });

  it('stays within its size', async () => {
    const { cache, load, calls } = setup();
    for (const k of ['a', 'b', 'c', 'd']) await cache.get(k, 10_000, load);
    // 'a' was dropped to make room: asking again loads.
    const before = calls();
    await cache.get('a', 10_000, load);
    expect(calls()).toBe(before + 1);
  });
});
