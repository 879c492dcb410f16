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
    void g.acquire('bulk');
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
    void g.acquire('bulk');
    const waiting = g.acquire('bulk')!;
    g.release();
    // The slot went to the waiter, so a newcomer waits too.
    expect(g.acquire('bulk')).toBeInstanceOf(Promise);
    await waiting;
    expect(g.inUse).toBe(1);
  });
});

describe('SubmitGate, a chunk at a time', () => {
  it('grants a chunk its slots together, never a part of them, so chunks cannot wait for each other', async () => {
    const g = new SubmitGate(4);
    expect(g.acquire('bulk', 3)).toBeUndefined();
    const a = g.acquire('bulk', 3)!;
    const b = g.acquire('bulk', 1)!;
    // b fits now, but waits behind a (order kept); a holds nothing while it waits.
    expect(g.inUse).toBe(3);
    expect(g.queued).toBe(4);
    let got = '';
    void a.then(() => (got += 'a'));
    void b.then(() => (got += 'b'));
    g.release(3);
    await a;
    await b;
    expect(got).toBe('ab');
    expect(g.inUse).toBe(4);
  });

  it('never asks for more than it has', () => {
    const g = new SubmitGate(2);
    expect(g.acquire('bulk', 10)).toBeUndefined();
    expect(g.inUse).toBe(2);
  });
});
