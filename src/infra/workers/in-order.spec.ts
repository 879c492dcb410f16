import { describe, expect, it } from 'vitest';
import { InOrderRunner } from './in-order';

const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('InOrderRunner', () => {
  it('hands results on in the order the tasks were given, whatever order they finish in', async () => {
    const got: number[] = [];
    let running = 0;
    let most = 0;
    const runner = new InOrderRunner(
      async (n: number) => {
        running++;
        most = Math.max(most, running);
        await later((7 - n) * 3, null); // the later tasks finish first
        running--;
        return n;
      },
      3,
      (n) => void got.push(n),
    );
    for (let n = 0; n < 7; n++) await runner.push(n);
    expect(runner.inFlight).toBeLessThanOrEqual(3);
    await runner.drain();
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(most).toBe(3);
    expect(runner.inFlight).toBe(0);
  });

  it('waits for a slow consumer before starting more tasks (backpressure)', async () => {
    let started = 0;
    const runner = new InOrderRunner(
      async (n: number) => (started++, n),
      2,
      () => later(20, undefined),
    );
    await runner.push(1);
    await runner.push(2);
    const third = runner.push(3);
    expect(started).toBe(2);
    await third;
    expect(started).toBe(3);
    await runner.drain();
  });

  it('fails with the first failure, in order, and leaves no unhandled rejection behind', async () => {
    const handed: number[] = [];
    const runner = new InOrderRunner(
      async (n: number) => {
        if (n === 1 || n === 2) throw new Error(`task ${n} failed`);
        return n;
      },
      2,
      (n) => void handed.push(n),
    );
    await runner.push(0);
    await runner.push(1);
    await runner.push(2);
    await expect(runner.push(3)).rejects.toThrow('task 1 failed');
    expect(handed).toEqual([0]);
    await expect(runner.drain()).rejects.toThrow('task 2 failed');
  });

  it('counts a task that throws before returning a promise as a failed task', async () => {
    const runner = new InOrderRunner(
      (n: number): Promise<number> => {
        if (n) throw new Error('no');
        return Promise.resolve(n);
      },
      1,
      () => undefined,
    );
    await runner.push(1);
    await expect(runner.drain()).rejects.toThrow('no');
  });
});
