// The reply router's batch path against the real stack: an MO the carrier offers again (same SMSC
// message id on the deliver_sm) is stored once and its STOP recorded and answered once; a batch of
// many STOPs (with a repeat of one inside it and YES before STOP for some numbers) commits every
// opt-out together, and messages sent to those numbers after the commit are suppressed; the numbers
// with a STOP commit before the rest of their batch, each number's messages still in order.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { OptOutLedger } from '../src/modules/consent/opt-out-ledger.service';
import type { InboundEnvelope } from '../src/modules/carriers/inbound-envelope';
import { ReplyRouter } from '../src/modules/replies/reply-router.consumer';
import { ApiClient, eventually } from './support/engine';
import { SimulatedEngine, startSimulatedEngine } from './support/simulated';

let stack: SimulatedEngine;
let api: ApiClient;
let n = 0;
// Exchange codes (the 3 digits after the area code) start with 2–9 in North America.
const run = String(Math.floor(Math.random() * 8000) + 2000);
/** A fresh valid US number per call (Denver area code, unique per run). */
const customer = () => `+1303${run.slice(0, 3)}${String(++n).padStart(4, '0')}`;

const textsTo = (to: string) => stack.sim.messages(to).map((m) => m.text);
const optOutsOf = async (e164: string) =>
  (await api.get(`/v1/opt-outs?number=${encodeURIComponent(e164)}`)).body.data as { kind: string }[];
const inboundOf = async (e164: string) =>
  (await api.get(`/v1/conversations/${encodeURIComponent(e164)}`)).body.data.filter(
    (m: any) => m.direction === 'inbound',
  ) as { id: string; body: string; intent: string }[];

/**
 * Sends each number a message and waits until all are delivered, so replies answer them in this
 * workspace; returns a maker of inbound envelopes from those numbers to their sticky senders.
 */
async function threads(numbers: string[], body: string, metadata?: Record<string, string>) {
  const prior = await api.post('/v1/messages/batch', {
    messages: numbers.map((to) => ({ to, body, ...(metadata ? { metadata } : {}) })),
  });
  expect(prior.status).toBe(200);
  expect(prior.body.results.every((r: any) => r.status === 'accepted')).toBe(true);
  await eventually(async () => {
    const statuses = await Promise.all(
      prior.body.results.map(async (r: any) => (await api.get(`/v1/messages/${r.id}`)).body.status),
    );
    return statuses.every((st) => st === 'delivered');
  }, 30_000);
  // Each number's sticky sender is the one it replies to.
  const senderOf = new Map(numbers.map((to, i) => [to, prior.body.results[i].from as string]));
  const t0 = Date.now();
  return {
    senderOf,
    envelope: (from: string, body: string, i: number): InboundEnvelope => ({
      id: randomUUID(),
      connectorId: 'smpp',
      from,
      to: senderOf.get(from)!,
      body,
      receivedAt: t0 + i,
    }),
  };
}

beforeAll(async () => {
  stack = await startSimulatedEngine({ scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 20 } });
  api = await stack.engine.workspace();
});

afterAll(async () => {
  await stack?.close();
});

describe('reply router batches', () => {
  it('stores an MO the carrier offers again once, and records and answers its STOP once', async () => {
    const to = customer();
    const sent = await api.post('/v1/messages', { to, body: 'Acme: your parcel ships today.' });
    expect(sent.status).toBe(202);
    await eventually(
      async () => (await api.get(`/v1/messages/${sent.body.id}`)).body.status === 'delivered',
      30_000,
    );

    const moId = stack.sim.sendMo('parley', { from: to, to: sent.body.from, text: 'STOP' });
    await eventually(async () => (await optOutsOf(to)).length > 0, 20_000);
    await eventually(async () => textsTo(to).some((t) => /unsubscribed/i.test(t)), 20_000);

    // The SMSC offers the same MO again (its deliver_sm_resp was lost), later and on its own.
    stack.sim.sendMo('parley', { from: to, to: sent.body.from, text: 'STOP', id: moId });
    // A later, different MO of the same number: once it is stored, the repeat before it was handled
    // (one partition per number keeps them in order).
    stack.sim.sendMo('parley', { from: to, to: sent.body.from, text: 'thanks' });
    await eventually(async () => (await inboundOf(to)).some((m) => m.body === 'thanks'), 20_000);

    const inbound = await inboundOf(to);
    expect(inbound.map((m) => m.body)).toEqual(['STOP', 'thanks']);
    expect(await optOutsOf(to)).toHaveLength(1);
    expect(textsTo(to).filter((t) => /unsubscribed/i.test(t))).toHaveLength(1);
  });

  it('commits every STOP of one batch, and later sends to those numbers are suppressed', async () => {
    const router = stack.engine.app.get(ReplyRouter);
    const numbers = Array.from({ length: 40 }, () => customer());
    const { envelope } = await threads(numbers, 'Acme: your appointment is tomorrow at 10.');
    const batch: InboundEnvelope[] = [];
    numbers.forEach((from, i) => {
      // YES before STOP (a confirmation, not an opt-in) for some; the STOP must still win.
      if (i % 4 === 0) batch.push(envelope(from, 'YES', i));
      batch.push(envelope(from, i % 2 ? 'STOP' : 'unsubscribe', i + 100));
    });
    // The carrier's repeat of one STOP lands in the same batch.
    batch.push({ ...batch[1], receivedAt: batch[1].receivedAt + 400 });
    await router.route(batch);

    // Committed when route() returns: every number is opted out, each by exactly one event.
    for (const from of numbers) {
      const events = await optOutsOf(from);
      expect(
        events.filter((e) => e.kind === 'opt_out'),
        from,
      ).toHaveLength(1);
    }
    const repeated = await inboundOf(batch[1].from);
    expect(repeated.filter((m) => m.intent === 'opt_out')).toHaveLength(1);

    // One confirmation per number, and nothing else after the STOP.
    await eventually(
      async () => numbers.every((to) => textsTo(to).some((t) => /unsubscribed/i.test(t))),
      30_000,
    );
    const later = await api.post('/v1/messages/batch', {
      messages: numbers.map((to) => ({ to, body: 'Acme: one more thing' })),
    });
    const ids = later.body.results.map((r: any) => r.id as string);
    await eventually(async () => {
      const statuses = await Promise.all(
        ids.map(async (id: string) => (await api.get(`/v1/messages/${id}`)).body.status),
      );
      return statuses.every((s) => s === 'suppressed');
    }, 30_000);
    for (const to of numbers) {
      expect(textsTo(to).filter((t) => /unsubscribed/i.test(t))).toHaveLength(1);
      expect(textsTo(to)).not.toContain('Acme: one more thing');
    }
  });

  it('commits the numbers with a STOP before the rest of the batch, each number in order', async () => {
    const router = stack.engine.app.get(ReplyRouter);
    const db = stack.engine.app.get<Db>(DB);
    const [yesThenStop, stopThenStart, question, thanks] = Array.from({ length: 4 }, () => customer());
    const numbers = [yesThenStop, stopThenStart, question, thanks];
    const { senderOf, envelope: env } = await threads(numbers, 'Acme: your order ships today.', {
      order_id: 'A-1',
    });
    // Interleaved as they arrived; the numbers with a STOP are not first in the batch.
    const batch = [
      env(thanks, 'thanks', 0),
      env(yesThenStop, 'YES', 1),
      env(question, 'where is my parcel?', 2),
      env(yesThenStop, 'STOP', 3),
      env(stopThenStart, 'STOP', 4),
      env(thanks, 'ok cool', 5),
      env(stopThenStart, 'START', 6),
    ];
    await router.route(batch);

    // Everything is committed when route() returns, each number's changes in its order.
    const rows = await sql<{ id: string; from_e164: string; intent: string; created_at: Date }>`
      select id, from_e164, intent, created_at from inbound_messages
       where id = any(${batch.map((e) => e.id)}::uuid[])`.execute(db);
    expect(rows.rows).toHaveLength(batch.length);
    const ledger = stack.engine.app.get(OptOutLedger);
    for (const n of numbers)
      expect((await ledger.suppressedAmong(api.workspaceId, [n], senderOf.get(n))).has(n), n).toBe(
        n === yesThenStop,
      );
    const changes = await ledger.events(api.workspaceId, stopThenStart);
    expect(changes.map((e) => e.kind).sort()).toEqual(['opt_in', 'opt_out']);

    // The STOPs were committed before the other numbers' rows were written (their own transaction).
    const stops = await sql<{ recorded_at: Date }>`
      select recorded_at from consent_events
       where workspace_id = ${api.workspaceId} and kind = 'opt_out'
         and e164 = any(${[yesThenStop, stopThenStart]}::text[])`.execute(db);
    expect(stops.rows).toHaveLength(2);
    const lastStop = Math.max(...stops.rows.map((r) => r.recorded_at.getTime()));
    const others = rows.rows.filter((r) => r.from_e164 === question || r.from_e164 === thanks);
    expect(others).toHaveLength(3);
    for (const r of others) expect(r.created_at.getTime()).toBeGreaterThanOrEqual(lastStop);

    // The rest still gets its follow-ups: the order question reaches the inbox.
    await eventually(async () => {
      const inbox = (await api.get('/v1/inbox?status=open')).body.data as { customer: string }[];
      return inbox.some((i) => i.customer === question);
    }, 20_000);
  });
});
