import { describe, expect, it } from 'vitest';
import { FlightCore, LaneLoad, LifecycleError, moveTo } from './flight';

const flight = (load: LaneLoad, lane: 'priority' | 'bulk' = 'bulk', segments = 2): FlightCore => ({
  id: `m-${Math.random()}`,
  to: '+14155550001',
  lane,
  segments,
  state: 'queued',
  taken: false,
  load,
});

describe('a flight’s lifecycle', () => {
  it('counts a lane’s load from the moves: active from picked to sending, unsent segments until fencing ends', () => {
    const load = new LaneLoad();
    const f = flight(load);
    moveTo(f, 'picked');
    expect(load.active.bulk).toBe(1);
    expect(load.unsent.bulk).toBe(0);
    moveTo(f, 'reserving');
    expect(load.unsent.bulk).toBe(2);
    moveTo(f, 'scheduled');
    moveTo(f, 'fencing');
    expect(load.unsent.bulk).toBe(2);
    moveTo(f, 'sending');
    expect(load.unsent.bulk).toBe(0);
    expect(load.active.bulk).toBe(1);
    moveTo(f, 'backoff');
    expect(load.totalActive).toBe(0);
    moveTo(f, 'picked');
    moveTo(f, 'done');
    expect(load.totalActive).toBe(0);
    expect(load.totalUnsent).toBe(0);
  });

  it('keeps the classes apart', () => {
    const load = new LaneLoad();
    const p = flight(load, 'priority', 1);
    const b = flight(load, 'bulk', 3);
    for (const f of [p, b]) {
      moveTo(f, 'picked');
      moveTo(f, 'reserving');
    }
    expect(load.active).toEqual({ priority: 1, bulk: 1 });
    expect(load.unsent).toEqual({ priority: 1, bulk: 3 });
  });

  it('refuses a move the lifecycle does not have, and leaves the flight as it was', () => {
    const load = new LaneLoad();
    const f = flight(load);
    expect(() => moveTo(f, 'sending')).toThrow(LifecycleError);
    expect(f.state).toBe('queued');
    moveTo(f, 'done');
    expect(() => moveTo(f, 'picked')).toThrow(LifecycleError);
    // Staying put is not a move.
    moveTo(f, 'done');
    expect(load.totalActive).toBe(0);
  });

  it('gives a slot back from the send path: sending, fencing or scheduled go back to reserving', () => {
    const load = new LaneLoad();
    for (const from of ['scheduled', 'fencing', 'sending'] as const) {
      const f = flight(load);
      moveTo(f, 'picked');
      moveTo(f, 'reserving');
      moveTo(f, 'scheduled');
      if (from !== 'scheduled') moveTo(f, 'fencing');
      if (from === 'sending') moveTo(f, 'sending');
      moveTo(f, 'reserving');
      expect(f.state).toBe('reserving');
      moveTo(f, 'done');
    }
    expect(load.totalUnsent).toBe(0);
  });
});
