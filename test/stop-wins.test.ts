// Invariant: a STOP is never followed by another message. Here the message was already claimed
// and handed to the carrier, which answered "throttled"; while it waits for its retry the
// recipient's opt-out is committed. The retry must look at the opt-outs again and suppress it
// instead of sending (real engine, real Kafka/Postgres/Redis, in-process SMPP simulator).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, eventually } from './support/engine';
import { SimulatedEngine, startSimulatedEngine } from './support/simulated';

let stack: SimulatedEngine;
let api: ApiClient;
const run = String(Math.floor(Math.random() * 8000) + 2000);

beforeAll(async () => {
  stack = await startSimulatedEngine({ scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 20 } });
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
