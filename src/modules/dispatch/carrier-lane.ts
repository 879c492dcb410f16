// One carrier's lane: the messages waiting to go to that carrier, in two classes (priority before
// bulk), each a set of per-number FIFO queues. Pure, so the scheduling rules are tested without
// Kafka or a clock.
//
// Rules it keeps:
// - Priority first: a block is filled from the priority class before any bulk message is looked at.
// - Order per number (invariant 5): only the head of a number's queue can be picked, and a number
//   has at most one message in flight per class, so a later message never overtakes an earlier
//   one, including one that is waiting to be retried.
// - No head-of-line blocking across numbers: a number whose head is in flight or backing off simply
//   leaves the ready queue; the others keep going.
// - Fair shares in bulk: concurrent campaigns on one carrier fill its blocks by weight (smooth
//   weighted round-robin over a window of ready numbers), so a large campaign launched first does
//   not starve one launched after it.

export type LaneClass = 'priority' | 'bulk';
const CLASSES: readonly LaneClass[] = ['priority', 'bulk'];

export interface LaneEntry {
  /** Message id. */
  id: string;
  /** Recipient; order is kept per number and class. */
  to: string;
  lane: LaneClass;
  /** The flow it belongs to for fair sharing (its campaign); none shares one default flow. */
  flow?: string;
  /** The flow's weight relative to others on the carrier (default 1). */
  weight?: number;
}

/** How many ready numbers a bulk block looks at to interleave campaigns. */
const FAIR_WINDOW = 4_096;

/** What a block builder says about the next candidate. */
export type Pick = 'take' | 'skip' | 'stop';

interface ClassState<T extends LaneEntry> {
  queues: Map<string, T[]>;
  /** Numbers whose head can be picked now, in the order they became ready. */
  ready: string[];
  readyHead: number;
  /** Numbers backing off until a time (their head is waiting to be retried). */
  waiting: Map<string, number>;
  /** Numbers whose head is in flight. */
  inFlight: Set<string>;
}

export class CarrierLane<T extends LaneEntry> {
  private readonly classes = new Map<LaneClass, ClassState<T>>(
    CLASSES.map((c) => [
      c,
      { queues: new Map(), ready: [], readyHead: 0, waiting: new Map(), inFlight: new Set() },
    ]),
  );
  private count = 0;
  /** Smooth weighted round-robin position of each bulk flow, kept between blocks. */
  private readonly credit = new Map<string, number>();

  constructor(readonly carrierId: string) {}

  /** Messages in the lane, queued or in flight. */
  get size(): number {
    return this.count;
  }

  /** Appends a message behind every earlier message to the same number in its class. */
  push(entry: T): void {
    const c = this.cls(entry.lane);
    const q = c.queues.get(entry.to);
    this.count++;
    if (q) {
      q.push(entry);
      return;
    }
    c.queues.set(entry.to, [entry]);
    c.ready.push(entry.to);
  }

  /**
   * Builds the next block: walks ready numbers (priority class first), offering each head to
   * `pick`. Taken heads are in flight until `done` or `retryAt`; skipped numbers keep their place.
   * Numbers whose backoff ended by `now` become ready first.
   */
  nextBlock(now: number, pick: (entry: T) => Pick): T[] {
    const block: T[] = [];
    for (const name of CLASSES) {
      const c = this.cls(name);
      this.wake(c, now);
      if (name === 'bulk') {
        this.fairBlock(c, pick, block);
        break;
      }
      const skipped: string[] = [];
      let stop = false;
      while (c.readyHead < c.ready.length) {
        const to = c.ready[c.readyHead];
        const head = c.queues.get(to)![0];
        const verdict = pick(head);
        if (verdict === 'stop') {
          stop = true;
          break;
        }
        c.readyHead++;
        if (verdict === 'skip') skipped.push(to);
        else {
          c.inFlight.add(to);
          block.push(head);
        }
      }
      // Skipped numbers go back to the front, in their order, so they are first next time.
      this.compact(c, skipped);
      if (stop) break;
    }
    return block;
  }

  /**
   * Bulk: the ready numbers in a window are grouped by their head's flow and offered to `pick` in
   * smooth weighted round-robin order (each flow in its own arrival order). Numbers not taken keep
   * their relative order at the front of the ready queue.
   */
  private fairBlock(c: ClassState<T>, pick: (entry: T) => Pick, block: T[]): void {
    const end = Math.min(c.ready.length, c.readyHead + FAIR_WINDOW);
    const window = c.ready.slice(c.readyHead, end);
    const flows = new Map<
      string,
      { key: string; weight: number; numbers: string[]; next: number; current: number }
    >();
    for (const to of window) {
      const head = c.queues.get(to)![0];
      const key = head.flow ?? '';
      let f = flows.get(key);
      if (!f) {
        // The round-robin position carries over between blocks (blocks may hold one message each),
        // so the shares converge to the weights over time, not just within a block.
        const current = this.credit.get(key) ?? 0;
        flows.set(key, (f = { key, weight: Math.max(1, head.weight ?? 1), numbers: [], next: 0, current }));
      }
      f.numbers.push(to);
    }
    // Flows with nothing ready lose their position (a returning flow starts even).
    for (const key of [...this.credit.keys()]) if (!flows.has(key)) this.credit.delete(key);
    const taken = new Set<string>();
    const active = [...flows.values()];
    while (active.length) {
      const total = active.reduce((a, f) => a + f.weight, 0);
      const round = [...active];
      let best = active[0];
      for (const f of round) {
        f.current += f.weight;
        if (f.current > best.current) best = f;
      }
      best.current -= total;
      const to = best.numbers[best.next++];
      if (best.next >= best.numbers.length) active.splice(active.indexOf(best), 1);
      const head = c.queues.get(to)![0];
      const verdict = pick(head);
      if (verdict === 'stop') {
        // Nothing was sent this round: undo it, so the next block resumes the rotation exactly.
        for (const f of round) f.current -= f.weight;
        best.current += total;
        break;
      }
      if (verdict === 'take') {
        taken.add(to);
        c.inFlight.add(to);
        block.push(head);
      }
    }
    for (const f of flows.values()) this.credit.set(f.key, f.current);
    c.ready = [...window.filter((to) => !taken.has(to)), ...c.ready.slice(end)];
    c.readyHead = 0;
  }

  /** The head of its number's queue is finished (any outcome but retry); the next one may go. */
  done(entry: T): void {
    const c = this.cls(entry.lane);
    const q = c.queues.get(entry.to);
    if (!q || q[0] !== entry)
      throw new Error(`lane ${this.carrierId}: ${entry.id} is not the head of ${entry.to}`);
    q.shift();
    this.count--;
    c.inFlight.delete(entry.to);
    c.waiting.delete(entry.to);
    if (q.length) c.ready.push(entry.to);
    else c.queues.delete(entry.to);
  }

  /** The head stays at the front of its number's queue and may be picked again from `at`. */
  retryAt(entry: T, at: number): void {
    const c = this.cls(entry.lane);
    if (c.queues.get(entry.to)?.[0] !== entry)
      throw new Error(`lane ${this.carrierId}: ${entry.id} is not the head of ${entry.to}`);
    c.inFlight.delete(entry.to);
    c.waiting.set(entry.to, at);
  }

  /** Whether anything (of one class, if named) could be picked at `now` (ignores the rate limits). */
  hasReady(now: number, only?: LaneClass): boolean {
    return (only ? [only] : CLASSES).some((n) => {
      const c = this.cls(n);
      if (c.readyHead < c.ready.length) return true;
      for (const at of c.waiting.values()) if (at <= now) return true;
      return false;
    });
  }

  /** The earliest time a backing-off head becomes ready, if any. */
  nextWakeAt(): number | undefined {
    let next: number | undefined;
    for (const n of CLASSES)
      for (const at of this.cls(n).waiting.values()) if (next === undefined || at < next) next = at;
    return next;
  }

  /**
   * Drops queued messages that match (partitions lost in a rebalance: their new owner reads them
   * again). Heads in flight or backing off stay: they are claimed by this process. Returns the
   * dropped entries. Dropping a whole queue tail keeps order: what the new owner gets starts at the
   * first dropped message.
   */
  drop(match: (entry: T) => boolean): T[] {
    const dropped: T[] = [];
    for (const n of CLASSES) {
      const c = this.cls(n);
      for (const [to, q] of c.queues) {
        const keepHead = c.inFlight.has(to) || c.waiting.has(to);
        const start = keepHead ? 1 : 0;
        const cut = q.findIndex((e, i) => i >= start && match(e));
        if (cut < 0) continue;
        dropped.push(...q.splice(cut));
        if (!q.length) c.queues.delete(to);
      }
      c.ready = c.ready.slice(c.readyHead).filter((to) => c.queues.has(to) && !c.inFlight.has(to));
      c.readyHead = 0;
    }
    this.count -= dropped.length;
    return dropped;
  }

  private wake(c: ClassState<T>, now: number) {
    for (const [to, at] of c.waiting) {
      if (at <= now) {
        c.waiting.delete(to);
        c.ready.push(to);
      }
    }
  }

  private compact(c: ClassState<T>, front: string[]) {
    // Amortised: the consumed prefix is cut once it dominates the array.
    if (front.length || c.readyHead > 1024) {
      c.ready = [...front, ...c.ready.slice(c.readyHead)];
      c.readyHead = 0;
    }
  }

  private cls(n: LaneClass): ClassState<T> {
    return this.classes.get(n)!;
  }
}
