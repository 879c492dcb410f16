import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool, workerScript } from './worker-pool';

// The worker side of the protocol in plain JS (serveTasks needs a compiled module): doubles a
// number after a delay, fails on "fail", and exits the thread on "die".
const WORKER = `
const { parentPort, threadId } = require('node:worker_threads');
parentPort.on('message', ({ id, input }) => {
  if (input === 'die') process.exit(3);
  if (input === 'fail') return parentPort.postMessage({ id, error: 'bad input' });
  setTimeout(() => parentPort.postMessage({ id, output: { doubled: input * 2, thread: threadId } }), 5);
});
`;

let pool: WorkerPool<unknown, { doubled: number; thread: number }> | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('WorkerPool', () => {
  it('spreads tasks over at most `size` threads and answers each task with its own result', async () => {
    pool = new WorkerPool(WORKER, 2, { eval: true });
    const out = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => pool!.run(n)));
    expect(out.map((o) => o.doubled)).toEqual([2, 4, 6, 8, 10, 12]);
    expect(new Set(out.map((o) => o.thread)).size).toBe(2);
    expect(pool.pending).toBe(0);
  });

  it('fails only the task whose input the worker refused', async () => {
    pool = new WorkerPool(WORKER, 1, { eval: true });
    const [bad, good] = await Promise.allSettled([pool.run('fail'), pool.run(4)]);
    expect(bad).toMatchObject({ status: 'rejected', reason: new Error('bad input') });
    expect(good).toMatchObject({ status: 'fulfilled', value: { doubled: 8 } });
  });

  it('fails the tasks of a thread that died, and the next task gets a new thread', async () => {
    pool = new WorkerPool(WORKER, 1, { eval: true });
    const first = await pool.run(1);
    await expect(pool.run('die')).rejects.toThrow(/exited with code 3/);
    const next = await pool.run(2);
    expect(next.doubled).toBe(4);
    expect(next.thread).not.toBe(first.thread);
  });

  it('refuses tasks once closed', async () => {
    pool = new WorkerPool(WORKER, 1, { eval: true });
    await pool.close();
    await expect(pool.run(1)).rejects.toThrow(/closed/);
  });

  it('finds a worker script beside the module, or the build of a source module', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'worker-script-'));
    try {
      const src = path.join(root, 'src', 'mod');
      const dist = path.join(root, 'dist', 'src', 'mod');
      mkdirSync(src, { recursive: true });
      mkdirSync(dist, { recursive: true });
      expect(workerScript(src, 'w.worker')).toBeUndefined();
      writeFileSync(path.join(dist, 'w.worker.js'), '');
      expect(workerScript(src, 'w.worker')).toBe(path.join(dist, 'w.worker.js'));
      expect(workerScript(dist, 'w.worker')).toBe(path.join(dist, 'w.worker.js'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
