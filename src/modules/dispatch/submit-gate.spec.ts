import { describe, expect, it } from 'vitest';
import { SubmitGate } from './submit-gate';

describe('SubmitGate', () => {
  it('lets in as many as it has slots, then makes the rest wait', async () => {
    const g = new SubmitGate(2);
    expect(g.acquire('bulk')).toBeUndefined();
    expect(g.acquire('bulk')).toBeUndefined();
    const third = g.acquire('bulk');
    expect(third).toBeInstanceOf(Promise);
    expect(g.queued).toBe(1);
    g.release();
    await third;
    expect(g.inUse).toBe(2);
    expect(g.queued).toBe(0);
  });

  it('serves a waiting priority submit before every bulk one that came earlier', async () => {
    const g = new SubmitGate(1);
    g.acquire('bulk');
    const order: string[] = [];
    const b1 = g.acquire('bulk')!.then(() => order.push('b1'));
    const b2 = g.acquire('bulk')!.then(() => order.push('b2'));
    const p1 = g.acquire('priority')!.then(() => order.push('p1'));
    g.release();
    await p1;
    g.release();
    await b1;
    g.release();
    await b2;
    expect(order).toEqual(['p1', 'b1', 'b2']);
  });

  it('does not let a bulk submit overtake waiting ones when a slot frees', async () => {
    const g = new SubmitGate(1);
    g.acquire('bulk');
    const waiting = g.acquire('bulk')!;
    g.release();
    // The slot went to the waiter, so a newcomer waits too.
    expect(g.acquire('bulk')).toBeInstanceOf(Promise);
    await waiting;
    expect(g.inUse).toBe(1);
  });
});
