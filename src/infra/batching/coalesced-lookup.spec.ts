import { describe, expect, it } from 'vitest';
import { CoalescedLookup } from './coalesced-lookup';

describe('CoalescedLookup', () => {
  it('turns the looks of one tick into one lookup of the distinct items', async () => {
    const calls: string[][] = [];
    const probe = new CoalescedLookup<{ id: string }>(async (items) => {
      calls.push(items.map((i) => i.id));
      return new Set(['b']);
    });
    const [r1, r2] = await Promise.all([
      probe.check([{ id: 'a' }, { id: 'b' }]),
      probe.check([{ id: 'b' }, { id: 'c' }]),
    ]);
    expect(calls).toEqual([['a', 'b', 'c']]);
    expect(r1.found.has('b')).toBe(true);
    expect(r2.at).toBe(r1.at);
  });

  it('reports when the lookup started, not when it answered', async () => {
    let t = 1_000;
    const probe = new CoalescedLookup<{ id: string }>(
      async () => {
        t += 40;
        return new Set();
      },
      { now: () => t },
    );
    const r = await probe.check([{ id: 'a' }]);
    expect(r.at).toBe(1_000);
  });

  it('keeps one lookup in flight: looks asked meanwhile become the next one', async () => {
    const calls: string[][] = [];
    let release: () => void = () => undefined;
    const probe = new CoalescedLookup<{ id: string }>(async (items) => {
      calls.push(items.map((i) => i.id));
      if (calls.length === 1) await new Promise<void>((r) => (release = r));
      return new Set();
    });
    const first = probe.check([{ id: 'a' }]);
    await new Promise((r) => setImmediate(r));
    const later = [probe.check([{ id: 'b' }]), probe.check([{ id: 'c' }])];
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toEqual([['a']]);
    release();
    await Promise.all([first, ...later]);
    expect(calls).toEqual([['a'], ['b', 'c']]);
  });

  it('leads by about two lookups, within bounds', async () => {
    let t = 0;
    const probe = new CoalescedLookup<{ id: string }>(
      async () => {
        t += 20;
        return new Set();
      },
      { now: () => t, maxLeadMs: 100 },
    );
    for (let i = 0; i < 30; i++) await probe.check([{ id: String(i) }]);
    expect(probe.leadMs).toBe(41);
    const slow = new CoalescedLookup<{ id: string }>(
      async () => {
        t += 1_000;
        return new Set();
      },
      { now: () => t, maxLeadMs: 100 },
    );
    for (let i = 0; i < 10; i++) await slow.check([{ id: String(i) }]);
    expect(slow.leadMs).toBe(100);
  });

  it('fails every look of a lookup that failed, and the next tick looks again', async () => {
    let fail = true;
    const probe = new CoalescedLookup<{ id: string }>(async () => {
      if (fail) throw new Error('database away');
      return new Set();
    });
    await expect(probe.check([{ id: 'a' }])).rejects.toThrow('database away');
    fail = false;
    await expect(probe.check([{ id: 'a' }])).resolves.toMatchObject({ found: new Set() });
  });

  it('answers an empty look without a lookup', async () => {
    let called = 0;
    const probe = new CoalescedLookup<{ id: string }>(async () => {
      called++;
      return new Set();
    });
    await probe.check([]);
    expect(called).toBe(0);
  });
});
