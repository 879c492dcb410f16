// A few worker threads for CPU-heavy pure work (an import's normalization) so it overlaps with the
// event loop's I/O instead of stalling it. Tasks are batches (one message each, never one per row);
// results come back as promises, and a thread that dies fails only its own tasks and is replaced
// by the next task. `serveTasks` is the worker side of the protocol.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Transferable, Worker, WorkerOptions, parentPort } from 'node:worker_threads';

type Settle = { resolve: (v: unknown) => void; reject: (e: Error) => void };

interface Slot {
  worker: Worker;
  pending: Map<number, Settle>;
}

type Reply = { id: number; output: unknown; error?: undefined } | { id: number; error: string };

export class WorkerPool<I, O> {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;

  /** `script`: the worker's JS file (or code with `options.eval`), which calls serveTasks. */
  constructor(
    private readonly script: string,
    readonly size: number,
    private readonly options: WorkerOptions = {},
  ) {
    if (size < 1) throw new Error(`WorkerPool: size must be at least 1, not ${size}`);
  }

  /** Tasks sent and not answered yet, over all threads. */
  get pending(): number {
    return this.slots.reduce((n, s) => n + s.pending.size, 0);
  }

  /** Runs one task on the least busy thread; `transfer` lists buffers moved to it, not copied. */
  run(input: I, transfer: Transferable[] = []): Promise<O> {
    if (this.closed) return Promise.reject(new Error('WorkerPool: closed'));
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<O>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      slot.worker.postMessage({ id, input }, transfer);
    });
  }

  /** Stops the threads; tasks still running fail. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
    for (const s of slots) this.fail(s, new Error('WorkerPool: closed'));
  }

  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(this.script, this.options);
    // An idle pool does not keep the process alive; a running task's promise is what waits.
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    this.slots.push(slot);
    worker.on('message', (m: Reply) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.output);
    });
    const lost = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      this.fail(slot, err);
    };
    worker.on('error', (err) => lost(err));
    worker.on('exit', (code) => lost(new Error(`worker thread exited with code ${code}`)));
    return slot;
  }

  private fail(slot: Slot, err: Error) {
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  }
}

/**
 * The worker side: answers each task with `handle`'s output (and the buffers to move back), or
 * with the error's message, which fails that task only.
 */
export function serveTasks<I, O>(handle: (input: I) => { output: O; transfer?: Transferable[] }): void {
  const port = parentPort;
  if (!port) throw new Error('serveTasks: not running in a worker thread');
  port.on('message', ({ id, input }: { id: number; input: I }) => {
    let r: { output: O; transfer?: Transferable[] };
    try {
      r = handle(input);
    } catch (e) {
      port.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
      return;
    }
    port.postMessage({ id, output: r.output }, r.transfer ?? []);
  });
}

/**
 * The compiled worker script `name` beside the module in `dir`; when running from the TypeScript
 * sources (the test runner), the build's copy in dist/. Undefined when there is none.
 */
export function workerScript(dir: string, name: string): string | undefined {
  const here = path.join(dir, `${name}.js`);
  if (existsSync(here)) return here;
  const src = `${path.sep}src${path.sep}`;
  const i = `${dir}${path.sep}`.lastIndexOf(src);
  if (i < 0) return undefined;
  const built = path.join(dir.slice(0, i), 'dist', dir.slice(i + 1), `${name}.js`);
  return existsSync(built) ? built : undefined;
}
