// Invariant: a STOP is never followed by another message, even by one the dispatcher had already
// claimed (real engine, real Kafka/Postgres/Redis, in-process SMPP simulator):
// - a message handed to the carrier, answered "throttled", whose recipient opts out while it waits
//   for its retry: the retry looks at the opt-outs again and suppresses it;
// - a message claimed and waiting for its carrier's tokens (a 1 segment/s carrier), whose
//   recipient opts out a moment before its send time: the last look before the send finds it;
// - a message waiting at the connector's gate (its window held by a slow answer), whose recipient
//   opts out meanwhile: it is fenced and looked at only once it may go, and is suppressed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, eventually } from './support/engine';
import { SimulatedEngine, startSimulatedEngine } from './support/simulated';

let stack: SimulatedEngine;
let api: ApiClient;
const run = String(Math.floor(Math.random() * 8000) + 2000);

beforeAll(async () => {
  stack = await startSimulatedEngine({
    scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 20 },
    // EU Gamma slowed to one segment a second, so claimed messages wait for their tokens; one
    // bind with a window of one, so a slow answer holds the next submit at the connector's gate.
    adjust: (f) => ({
      ...f,
      connectors: f.connectors.map((c) => (c.kind === 'smpp' ? { ...c, binds: 1, window: 1 } : c)),
      carriers: f.carriers.map((c) => (c.id === 'eu-gamma' ? { ...c, segments_per_second: 1 } : c)),
    }),
  });
  api = await stack.engine.workspace();
}, 120_000);

afterAll(async () => stack?.close());

describe('STOP wins over a retry', () => {
  it('suppresses a throttled, claimed message once its recipient opts out, and never sends it', async () => {
    const to = `+1312${run.slice(0, 3)}${run}`;
    const before = stack.sim.stats().throttled;
    stack.sim.applyScenario({ throttle_all_seconds: 6 });
    try {
      const r = await api.post('/v1/messages', { to, body: 'Your code is 481516' });
      expect(r.status).toBe(202);
      // Claimed, at the carrier once, refused: now it waits for its retry.
      await eventually(async () => stack.sim.stats().throttled > before, 20_000, 50);
      expect((await api.get(`/v1/messages/${r.body.id}`)).body.status).toBe('submitting');

      const out = await api.post('/v1/opt-outs', { number: to, source: 'call_centre' });
      expect(out.status).toBe(201);

      await eventually(
        async () => (await api.get(`/v1/messages/${r.body.id}`)).body.status === 'suppressed',
        30_000,
        100,
      );
      const m = (await api.get(`/v1/messages/${r.body.id}`)).body;
      expect(m.error_code).toBe('opted_out');
      // The carrier refused every attempt it saw and accepted none.
      expect(stack.sim.messages(to)).toEqual([]);
    } finally {
      stack.sim.applyScenario({ reset: true });
    }
  });
});

describe('STOP wins over a claimed message waiting for its tokens', () => {
  it('sends nothing to a number after its opt-out commits, even a message claimed before', async () => {
    // Ten single-segment messages to ten UK numbers through a 1 segment/s carrier: about one
    // leaves a second, and each is claimed a second or two before its turn.
    const numbers = Array.from({ length: 10 }, (_, i) => `+447400${run.slice(0, 3)}${String(100 + i)}`);
    const r = await api.post('/v1/messages/batch', {
      messages: numbers.map((to) => ({ to, body: 'Your parcel is out for delivery today' })),
    });
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: { status: string }) => x.status)).toEqual(numbers.map(() => 'accepted'));
    const ids: string[] = r.body.results.map((x: { id: string }) => x.id);
    // The last message's recipient opts out while the carrier works through the first ones: its
    // message is claimed and waits for its token meanwhile, or is still queued.
    const target = numbers.length - 1;
    await eventually(async () => stack.sim.messages(numbers[0]).length > 0, 30_000, 20);
    const out = await api.post('/v1/opt-outs', { number: numbers[target], source: 'call_centre' });
    expect(out.status).toBe(201);
    const committedBy = Date.now();

    await eventually(
      async () =>
        (await Promise.all(ids.map(async (id) => (await api.get(`/v1/messages/${id}`)).body.status))).every(
          (st: string) => st === 'delivered' || st === 'suppressed',
        ),
      60_000,
      200,
    );
    const m = (await api.get(`/v1/messages/${ids[target]}`)).body;
    const atCarrier = stack.sim.messages(numbers[target]);
    if (m.status === 'suppressed') {
      expect(m.error_code).toBe('opted_out');
      expect(atCarrier).toEqual([]);
    } else {
      // On a slow machine its turn may have come while the opt-out was on its way: then it left
      // before the opt-out was answered, never after.
      expect(atCarrier).toHaveLength(1);
      expect(atCarrier[0].at).toBeLessThanOrEqual(committedBy);
    }
    // The others went out, one second apart (the carrier never stalls).
    expect(numbers.filter((n, i) => i !== target && stack.sim.messages(n).length === 1)).toHaveLength(9);
  }, 90_000);
});

describe('STOP wins over a message waiting at the connector', () => {
  it('looks at the opt-outs when a message waiting at the gate may go, not before', async () => {
    const first = `+1212${run.slice(0, 3)}1${run}`.slice(0, 12);
    const second = `+1212${run.slice(0, 3)}2${run}`.slice(0, 12);
    stack.sim.applyScenario({ latency_ms: 2_000 });
    try {
      // The first takes the connector's only window slot for two seconds; the second waits at the
      // gate behind it (its tokens reserved, not yet fenced).
      const a = await api.post('/v1/messages', { to: first, body: 'Your parcel is out for delivery' });
      const b = await api.post('/v1/messages', { to: second, body: 'Your parcel is out for delivery' });
      expect([a.status, b.status]).toEqual([202, 202]);
      await eventually(async () => stack.sim.stats().submits >= 1, 10_000, 10);
      expect((await api.get(`/v1/messages/${a.body.id}`)).body.status).toBe('submitting');
      expect((await api.get(`/v1/messages/${b.body.id}`)).body.status).toBe('accepted');
      await new Promise((r) => setTimeout(r, 200));
      const out = await api.post('/v1/opt-outs', { number: second, source: 'call_centre' });
      expect(out.status).toBe(201);

      await eventually(
        async () => (await api.get(`/v1/messages/${b.body.id}`)).body.status === 'suppressed',
        20_000,
        50,
      );
      expect(stack.sim.messages(second)).toEqual([]);
      await eventually(async () => stack.sim.messages(first).length === 1, 20_000, 50);
    } finally {
      stack.sim.applyScenario({ reset: true });
    }
  }, 60_000);
});
