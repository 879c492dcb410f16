// A message's life inside one dispatcher, as one explicit state, and what each lane holds in each
// state. Every part of the dispatcher moves a flight only through `moveTo`, which refuses a move
// the lifecycle does not have, and the lane's load (what limits how much more it may pick) is
// derived from those moves instead of counters kept by hand. Pure.
//
//   queued ──► picked ──► reserving ──► scheduled ──► fencing ──► sending ──► done
//     ▲          │            ▲             │            │           │
//     └── backoff ◄───────────┼─────────────┴────────────┴───────────┤  (retry, the database away)
//                             └──────────────────────────────────────┘  (slot given back, re-reserved)
//
// - queued: in its carrier lane, behind earlier messages to its number.
// - picked: in a block being admitted (validity, quiet hours, its campaign's state).
// - reserving: waiting for tokens of every bucket it pays into.
// - scheduled: tokens reserved for a send time.
// - fencing: its take (the fence, under its partition's epoch) and its last opt-out look.
// - sending: the shared send window, the connector's gate, the submit.
// - backoff: at the head of its number's queue until a retry time.
// - done: finished (an outcome, a final status, held, let go); its offset can be committed.
import type { LaneClass, LaneEntry } from './carrier-lane';

export type FlightState =
  'queued' | 'picked' | 'reserving' | 'scheduled' | 'fencing' | 'sending' | 'backoff' | 'done';

const NEXT: Record<FlightState, readonly FlightState[]> = {
  queued: ['picked', 'done'],
  picked: ['reserving', 'backoff', 'done'],
  reserving: ['scheduled', 'backoff', 'done'],
  scheduled: ['fencing', 'reserving', 'backoff', 'done'],
  fencing: ['sending', 'reserving', 'backoff', 'done'],
  sending: ['done', 'backoff', 'reserving'],
  backoff: ['picked', 'done'],
  done: [],
};

/** States in which a flight counts against its lane's room (picked and not yet landed). */
const ACTIVE: ReadonlySet<FlightState> = new Set(['picked', 'reserving', 'scheduled', 'fencing', 'sending']);
/** States in which its segments wait for tokens or for their time (not yet at the connector). */
const UNSENT: ReadonlySet<FlightState> = new Set(['reserving', 'scheduled', 'fencing']);

export class LifecycleError extends Error {}

/** What one lane holds, per class: flights picked and not landed, and their segments not yet sent. */
export class LaneLoad {
  readonly active: Record<LaneClass, number> = { priority: 0, bulk: 0 };
  readonly unsent: Record<LaneClass, number> = { priority: 0, bulk: 0 };

  get totalActive(): number {
    return this.active.priority + this.active.bulk;
  }

  get totalUnsent(): number {
    return this.unsent.priority + this.unsent.bulk;
  }

  moved(cls: LaneClass, segments: number, from: FlightState, to: FlightState): void {
    this.active[cls] += (ACTIVE.has(to) ? 1 : 0) - (ACTIVE.has(from) ? 1 : 0);
    this.unsent[cls] += ((UNSENT.has(to) ? 1 : 0) - (UNSENT.has(from) ? 1 : 0)) * segments;
  }
}

/** The part of a flight the lifecycle needs; the dispatcher's Flight adds what it carries. */
export interface FlightCore extends LaneEntry {
  segments: number;
  state: FlightState;
  /** Fenced by this process (its row is `submitting` under our epoch): only we may send it. */
  taken: boolean;
  load: LaneLoad;
}

/** Moves a flight, keeping its lane's load; throws on a move the lifecycle does not have. */
export function moveTo(f: FlightCore, to: FlightState): void {
  const from = f.state;
  if (from === to) return;
  if (!NEXT[from].includes(to)) throw new LifecycleError(`flight ${f.id}: ${from} → ${to} is not a move`);
  f.state = to;
  f.load.moved(f.lane, f.segments, from, to);
}

export const canMove = (from: FlightState, to: FlightState) => from === to || NEXT[from].includes(to);

/** Still this dispatcher's to work on (not finished, and not let go). */
export const isLive = (f: FlightCore) => f.state !== 'done';
