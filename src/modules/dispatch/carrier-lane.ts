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
//   weighted round-robin over each campaign's ready numbers), so a large campaign launched first
//   does not starve one launched after it.

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

/** What a block builder says about the next candidate. */
export type Pick = 'take' | 'skip' | 'stop';

/** A FIFO of ready numbers: `items` from `head` on; the consumed prefix is cut when it dominates. */
interface Fifo {
  items: string[];
  head: number;
}

interface ClassState<T extends LaneEntry> {
  queues: Map<string, T[]>;
  /**
   * Numbers whose head can be picked now, in the order they became ready, per flow of their head
   * (the priority class has one flow, ''). Kept per flow so a bulk block reaches every campaign's
   * numbers without walking past another's: a drain holds tens of thousands of ready numbers and
   * builds blocks many times a second.
   */
  ready: Map<string, Fifo>;
  /** Numbers backing off until a time (their head is waiting to be retried). */
  waiting: Map<string, number>;
  /** Numbers whose head is in flight. */
  inFlight: Set<string>;
  /** Smooth weighted round-robin position of each flow, kept between blocks. */
  credit: Map<string, number>;
}

export class CarrierLane<T extends LaneEntry> {
  private readonly classes = new Map<LaneClass, ClassState<T>>(
    CLASSES.map((c) => [
      c,
      { queues: new Map(), ready: new Map(), waiting: new Map(), inFlight: new Set(), credit: new Map() },
    ]),
  );
  private count = 0;

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
    this.makeReady(c, entry);
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
      if (this.fill(c, pick, block)) break;
    }
    return block;
  }

  /**
   * Offers one class's ready numbers to `pick`: its flows (campaigns, in bulk; the priority class
   * has one) in smooth weighted round-robin order, each flow's numbers in their own arrival order.
   * Numbers not taken keep their relative order at the front of their flow. True if `pick` said
   * stop.
   */
  private fill(c: ClassState<T>, pick: (entry: T) => Pick, block: T[]): boolean {
    const active: { key: string; fifo: Fifo; weight: number; current: number; skipped: string[] }[] = [];
    for (const [key, fifo] of c.ready) {
      if (fifo.head >= fifo.items.length) {
        c.ready.delete(key);
        continue;
      }
      // The round-robin position carries over between blocks (blocks may hold one message each),
      // so the shares converge to the weights over time, not just within a block.
      const weight = Math.max(1, c.queues.get(fifo.items[fifo.head])![0].weight ?? 1);
      active.push({ key, fifo, weight, current: c.credit.get(key) ?? 0, skipped: [] });
    }
    // Flows with nothing ready lose their position (a returning flow starts even).
    for (const key of [...c.credit.keys()]) if (!c.ready.has(key)) c.credit.delete(key);
    const flows = [...active];
    let stopped = false;
    while (active.length) {
      let total = 0;
      let best = active[0];
      for (const f of active) {
        total += f.weight;
        f.current += f.weight;
        if (f.current > best.current) best = f;
      }
      best.current -= total;
      const to = best.fifo.items[best.fifo.head];
      const head = c.queues.get(to)![0];
      const verdict = pick(head);
      if (verdict === 'stop') {
        // Nothing was sent this round: undo it, so the next block resumes the rotation exactly.
        for (const f of active) f.current -= f.weight;
        best.current += total;
        stopped = true;
        break;
      }
      best.fifo.head++;
      if (verdict === 'take') {
        c.inFlight.add(to);
        block.push(head);
      } else best.skipped.push(to);
      if (best.fifo.head >= best.fifo.items.length) active.splice(active.indexOf(best), 1);
    }
    for (const f of flows) {
      c.credit.set(f.key, f.current);
      // Skipped numbers go back to the front, in their order, so they are first next time.
      putBack(f.fifo, f.skipped);
      if (f.fifo.head >= f.fifo.items.length) c.ready.delete(f.key);
    }
    return stopped;
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
    if (q.length) this.makeReady(c, q[0]);
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
      for (const f of c.ready.values()) if (f.head < f.items.length) return true;
      for (const at of c.waiting.values()) if (at <= now) return true;
      return false;
    });
  }

  /** Whether any message of the lane (queued, in flight or backing off) matches. */
  some(match: (entry: T) => boolean): boolean {
    for (const n of CLASSES) for (const q of this.cls(n).queues.values()) if (q.some(match)) return true;
    return false;
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
      for (const [key, f] of c.ready) {
        const items = f.items.slice(f.head).filter((to) => c.queues.has(to) && !c.inFlight.has(to));
        if (items.length) c.ready.set(key, { items, head: 0 });
        else c.ready.delete(key);
      }
    }
    this.count -= dropped.length;
    return dropped;
  }

  private wake(c: ClassState<T>, now: number) {
    for (const [to, at] of c.waiting) {
      if (at <= now) {
        c.waiting.delete(to);
        this.makeReady(c, c.queues.get(to)![0]);
      }
    }
  }

  /** `head` (the head of its number's queue) can be picked: its number joins its flow's FIFO. */
  private makeReady(c: ClassState<T>, head: T) {
    const key = head.lane === 'bulk' ? (head.flow ?? '') : '';
    const f = c.ready.get(key);
    if (f) f.items.push(head.to);
    else c.ready.set(key, { items: [head.to], head: 0 });
  }

  private cls(n: LaneClass): ClassState<T> {
    return this.classes.get(n)!;
  }
}

/**
 * Puts `front` (numbers walked past this block, in their order) back at the head of `f`, in the
 * consumed slots just before it (they were taken from there, so they fit), then cuts the consumed
 * prefix once it is most of the array (amortised).
 */
function putBack(f: Fifo, front: string[]) {
  const start = f.head - front.length;
  for (let i = 0; i < front.length; i++) f.items[start + i] = front[i];
  f.head = start;
  if (f.head > 1024 && f.head * 2 > f.items.length) {
    f.items = f.items.slice(f.head);
    f.head = 0;
  }
}
