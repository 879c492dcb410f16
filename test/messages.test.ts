// The message store and the accepting API against the real stack: rows in Postgres, records on the
// priority topic read back with a real consumer, the state machine enforced by the database.
import { randomUUID } from 'node:crypto';
import IORedis from 'ioredis';
import { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaService } from '../src/infra/kafka/kafka.service';
import { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { ConfigService } from '../src/config/config.service';
import { REDIS } from '../src/infra/redis/redis.module';
import { CarrierDirectory, stickyKey } from '../src/modules/carriers/carrier-directory.service';
import { stableChoice } from '../src/modules/carriers/carrier-routes';
import { storedReceiptKey } from '../src/modules/carriers/receipt-id';
import {
  DispatchRecordRepository,
  PartitionLeaseRepository,
} from '../src/modules/dispatch/dispatch-record.repository';
import { MessageStatusRepository } from '../src/modules/messages/message-status.repository';
import { AcceptedRow, MessageRepository } from '../src/modules/messages/message.repository';
import { PartOutcomeRepository } from '../src/modules/receipts/part-outcome.repository';
import { RepliesRepository } from '../src/modules/replies/replies.repository';
import { MessagesService } from '../src/modules/messages/messages.service';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';

let engine: TestEngine;
let repo: MessageRepository;
let records: DispatchRecordRepository;
let statuses: MessageStatusRepository;
let outcomes: PartOutcomeRepository;
/** A partition lease of this file's own group, as a dispatcher takes one on assignment. */
const GROUP = `messages-test-${randomUUID()}`;
let epoch = '';

// Only the api role: no dispatcher moves these messages on while the tests look at them.
beforeAll(async () => {
  engine = await startEngine({ PARLEY_ROLES: 'api' });
  repo = engine.app.get(MessageRepository);
  records = engine.app.get(DispatchRecordRepository);
  statuses = engine.app.get(MessageStatusRepository);
  outcomes = engine.app.get(PartOutcomeRepository);
  epoch = (
    await engine.app.get(PartitionLeaseRepository).acquire(GROUP, 'me', [{ topic: 't', partition: 0 }])
  ).get('t:0')!;
});
afterAll(async () => engine?.close());

let seq = 0;
function row(workspaceId: string, over: Partial<AcceptedRow> = {}): AcceptedRow {
  seq++;
  return {
    id: randomUUID(),
    workspaceId,
    type: 'transactional',
    to: `+1415555${String(2000 + (seq % 7000)).padStart(4, '0')}`,
    sender: '+14155550100',
    carrierId: 'us-beta',
    connectorId: 'smpp',
    body: `hello ${seq}`,
    encoding: 'GSM-7',
    segments: 1,
    ...over,
  };
}

/** What a dispatcher takes: the rows, under this file's lease (or the epoch given). */
const takeOf = (rows: AcceptedRow[], e = epoch) =>
  rows.map((r) => ({ ...r, carrierId: 'us-beta', connectorId: 'smpp', topic: 't', partition: 0, epoch: e }));
const take = (rows: AcceptedRow[], e = epoch) => records.take(GROUP, takeOf(rows, e));

async function submitted(workspaceId: string, parts: number, over: Partial<AcceptedRow> = {}) {
  const r = row(workspaceId, { segments: parts, ...over });
  await repo.insertAccepted([r]);
  await take([r]);
  const carrierMessageIds = Array.from({ length: parts }, () => randomUUID().replace(/-/g, '').slice(0, 16));
  await records.markSubmitted([
    {
      id: r.id,
      workspaceId,
      carrierId: 'us-beta',
      connectorId: 'smpp',
      carrierMessageIds,
      receiptKeys: carrierMessageIds.map((c) => storedReceiptKey('as_is', c)),
      submittedAt: new Date(),
    },
  ]);
  return { ...r, carrierMessageIds };
}

/** A message id no row has. */
const stranger = randomUUID();

/** Part `i` of a submitted message, as a receipt matched to it addresses it. */
const partOf = (m: { id: string }, i: number) => ({ messageId: m.id, partIndex: i });

describe('MessageRepository', () => {
  let ws: ApiClient;
  beforeAll(async () => {
    ws = await engine.workspace();
  });

  it('inserts accepted messages once, with their accepted event', async () => {
    const rows = [row(ws.workspaceId), row(ws.workspaceId)];
    expect((await repo.insertAccepted(rows)).sort()).toEqual(rows.map((r) => r.id).sort());
    // The same ids again (a re-expanded campaign, a retried batch) insert nothing.
    expect(await repo.insertAccepted([...rows, row(ws.workspaceId, { id: rows[0].id })])).toEqual([]);
    const m = await repo.get(ws.workspaceId, rows[0].id);
    expect(m).toMatchObject({ status: 'accepted', to: rows[0].to, sender: '+14155550100', segments: 1 });
    expect(m!.events.map((e) => e.status)).toEqual(['accepted']);
  });

  it('takes each id once when two takes race under the same lease', async () => {
    const rows = Array.from({ length: 200 }, () => row(ws.workspaceId));
    await repo.insertAccepted(rows);
    const [a, b, c] = await Promise.all([take(rows), take([...rows].reverse()), take(rows.slice(50, 150))]);
    const all = [...a, ...b, ...c];
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(200);
    // Taken ids are never taken again.
    expect((await take(rows)).size).toBe(0);
    const m = await repo.get(ws.workspaceId, rows[0].id);
    expect(m).toMatchObject({ status: 'submitting', carrierId: 'us-beta', connectorId: 'smpp' });
  });

  it('writes the row of a message that has none (a campaign message) at its take', async () => {
    const r = row(ws.workspaceId, {
      campaignId: randomUUID(),
      type: 'marketing',
      metadata: { contact_id: 7 },
    });
    expect([...(await take([r]))]).toEqual([r.id]);
    const m = await repo.get(ws.workspaceId, r.id);
    expect(m).toMatchObject({
      status: 'submitting',
      campaignId: r.campaignId,
      body: r.body,
      metadata: { contact_id: 7 },
    });
    expect(m!.events.map((e) => e.status)).toEqual(['accepted']);
  });

  it('fences a dispatcher whose partition moved on: its take under the old epoch takes nothing', async () => {
    const leases = engine.app.get(PartitionLeaseRepository);
    const group = `fence-${randomUUID()}`;
    const first = (await leases.acquire(group, 'a', [{ topic: 't', partition: 3 }])).get('t:3')!;
    const takeIn = (rows: AcceptedRow[], e: string) =>
      records.take(
        group,
        rows.map((r) => ({ ...r, carrierId: 'c', connectorId: 'smpp', topic: 't', partition: 3, epoch: e })),
      );
    const before = [row(ws.workspaceId)];
    await repo.insertAccepted(before);
    expect((await takeIn(before, first)).size).toBe(1);
    // The partition is assigned to another process: its epoch moves on.
    const second = (await leases.acquire(group, 'b', [{ topic: 't', partition: 3 }])).get('t:3')!;
    expect(BigInt(second)).toBe(BigInt(first) + 1n);
    const after = [row(ws.workspaceId), row(ws.workspaceId)];
    await repo.insertAccepted(after);
    // The old owner (a zombie) takes nothing; the new one takes them; the first take stays.
    expect((await takeIn(after, first)).size).toBe(0);
    expect((await takeIn(after, second)).size).toBe(2);
    expect((await takeIn(before, second)).size).toBe(0);
    // Another group's lease never fences this one.
    expect((await takeIn([row(ws.workspaceId)], '999')).size).toBe(0);
  });

  it('marks submitted with one part per carrier id, idempotently', async () => {
    const m = await submitted(ws.workspaceId, 3);
    const again = await records.markSubmitted([
      {
        id: m.id,
        workspaceId: ws.workspaceId,
        carrierId: 'us-beta',
        connectorId: 'smpp',
        carrierMessageIds: m.carrierMessageIds,
        receiptKeys: m.carrierMessageIds.map((c) => storedReceiptKey('as_is', c)),
        submittedAt: new Date(),
      },
    ]);
    expect(again).toEqual([]);
    const d = await repo.get(ws.workspaceId, m.id);
    expect(d).toMatchObject({ status: 'submitted', carrierId: 'us-beta', connectorId: 'smpp' });
    expect(d!.parts.map((p) => [p.partIndex, p.carrierMessageId, p.status])).toEqual(
      m.carrierMessageIds.map((cid, i) => [i, cid, 'submitted']),
    );
    const found = await outcomes.findPartsByReceiptKeys([
      { connectorId: 'smpp', receiptKey: storedReceiptKey('as_is', m.carrierMessageIds[1]) },
      { connectorId: 'smpp', receiptKey: 'nope' },
    ]);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ messageId: m.id, partIndex: 1, parts: 3, carrierId: 'us-beta' });
    // Final parts are not open: a receipt for them finds nothing (but a late-receipt lookup does).
    await outcomes.applyPartStatuses([{ ...partOf(m, 1), status: 'delivered', at: new Date() }]);
    const key = [{ connectorId: 'smpp', receiptKey: storedReceiptKey('as_is', m.carrierMessageIds[1]) }];
    expect(await outcomes.findPartsByReceiptKeys(key)).toEqual([]);
    expect(await outcomes.findPartsByReceiptKeys(key, false)).toMatchObject([
      { messageId: m.id, partIndex: 1 },
    ]);
  });

  it('applies statuses by the state machine: a late ENROUTE after DELIVRD is ignored', async () => {
    const m = await submitted(ws.workspaceId, 1);
    const t0 = Date.now();
    const first = await statuses.apply([
      { id: m.id, status: 'sent', at: new Date(t0) },
      { id: m.id, status: 'delivered', at: new Date(t0 + 10), event: { stat: 'DELIVRD' } },
    ]);
    expect(first.map((c) => [c.previousStatus, c.status])).toEqual([
      ['submitted', 'sent'],
      ['sent', 'delivered'],
    ]);
    expect(first[1]).toMatchObject({ workspaceId: ws.workspaceId, campaignId: null, type: 'transactional' });
    const late = await statuses.apply([{ id: m.id, status: 'sent', at: new Date(t0 + 20) }]);
    expect(late).toEqual([]);
    const failedLater = await statuses.apply([
      { id: m.id, status: 'failed', errorCode: '0x45', at: new Date(t0 + 30) },
    ]);
    expect(failedLater).toEqual([]);
    const d = await repo.get(ws.workspaceId, m.id);
    expect(d!.status).toBe('delivered');
    expect(d!.finalAt?.getTime()).toBe(t0 + 10);
    expect(d!.errorCode).toBeNull();
    expect(d!.events.map((e) => e.status)).toEqual(['accepted', 'submitted', 'sent', 'delivered']);
    expect(d!.events[3].detail).toEqual({ stat: 'DELIVRD' });
  });

  it('never regresses, and returns what callbacks need', async () => {
    const cb = 'https://example.com/cb';
    const campaignId = randomUUID();
    const [a] = [row(ws.workspaceId, { statusCallback: cb, campaignId, type: 'marketing' })];
    await repo.insertAccepted([a]);
    const r = await statuses.apply([
      { id: a.id, status: 'suppressed', errorCode: 'opted_out', detail: 'STOP from +1…', at: new Date() },
      { id: a.id, status: 'queued', at: new Date() },
    ]);
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({
      status: 'suppressed',
      previousStatus: 'accepted',
      statusCallback: cb,
      campaignId,
      type: 'marketing',
      errorCode: 'opted_out',
      errorDetail: 'STOP from +1…',
    });
    expect((await take([a])).size).toBe(0);
    expect(await repo.statsByCampaign(campaignId)).toEqual([
      { status: 'suppressed', messages: 1, segments: 1 },
    ]);
  });

  it('adds up multipart receipts: all delivered → delivered', async () => {
    const m = await submitted(ws.workspaceId, 3);
    const at = new Date();
    const r1 = await outcomes.applyPartStatuses([
      { ...partOf(m, 0), status: 'delivered', at },
      { ...partOf(m, 1), status: 'delivered', at },
      { messageId: stranger, partIndex: 0, status: 'delivered', at },
    ]);
    expect(r1.refused).toEqual([{ messageId: stranger, partIndex: 0 }]);
    expect(r1.parts).toHaveLength(2);
    expect(r1.messages.map((c) => c.status)).toEqual(['sent']);
    const r2 = await outcomes.applyPartStatuses([{ ...partOf(m, 2), status: 'delivered', at }]);
    expect(r2.messages).toMatchObject([{ id: m.id, status: 'delivered', previousStatus: 'sent' }]);
    // A late intermediate receipt for a part changes nothing.
    const r3 = await outcomes.applyPartStatuses([{ ...partOf(m, 0), status: 'sent', at }]);
    expect(r3.parts).toEqual([]);
    const d = await repo.get(ws.workspaceId, m.id);
    expect(d!.status).toBe('delivered');
    expect(d!.parts.map((p) => p.status)).toEqual(['delivered', 'delivered', 'delivered']);
  });

  it('adds up multipart receipts: one undelivered part, then a failed one', async () => {
    const m = await submitted(ws.workspaceId, 3);
    const at = new Date();
    const r1 = await outcomes.applyPartStatuses([
      { ...partOf(m, 0), status: 'delivered', at },
      {
        ...partOf(m, 1),
        status: 'undelivered',
        errorCode: '001',
        at,
      },
    ]);
    expect(r1.messages).toMatchObject([{ status: 'undelivered', errorCode: '001' }]);
    const r2 = await outcomes.applyPartStatuses([
      {
        ...partOf(m, 2),
        status: 'failed',
        errorCode: '088',
        at,
      },
    ]);
    expect(r2.messages).toMatchObject([
      { status: 'failed', previousStatus: 'undelivered', errorCode: '088' },
    ]);
    const d = await repo.get(ws.workspaceId, m.id);
    expect(d!.parts.map((p) => [p.status, p.errorCode])).toEqual([
      ['delivered', null],
      ['undelivered', '001'],
      ['failed', '088'],
    ]);
  });

  it('adds up receipts for two parts of one message racing in two transactions', async () => {
    for (let i = 0; i < 10; i++) {
      const m = await submitted(ws.workspaceId, 2);
      const at = new Date();
      await Promise.all(
        m.carrierMessageIds.map((_cid, part) =>
          outcomes.applyPartStatuses([{ ...partOf(m, part), status: 'delivered', at }]),
        ),
      );
      expect((await repo.get(ws.workspaceId, m.id))!.status).toBe('delivered');
    }
  });

  it('applies one batch holding both parts of a message, two receipts for one part, and strangers', async () => {
    const two = await submitted(ws.workspaceId, 2);
    const one = await submitted(ws.workspaceId, 1);
    const other = await submitted(ws.workspaceId, 2);
    const t = Date.now();
    const at = (ms: number) => new Date(t + ms);
    const r = await outcomes.applyPartStatuses([
      { ...partOf(two, 0), status: 'delivered', at: at(1) },
      { ...partOf(one, 0), status: 'sent', at: at(2) },
      { messageId: stranger, partIndex: 0, status: 'delivered', at: at(3) },
      { ...partOf(one, 0), status: 'delivered', at: at(4) },
      { ...partOf(two, 1), status: 'delivered', at: at(5) },
      {
        ...partOf(other, 1),
        status: 'undelivered',
        errorCode: '001',
        at: at(6),
      },
    ]);
    expect(r.refused).toEqual([{ messageId: stranger, partIndex: 0 }]);
    expect(r.parts).toHaveLength(5);
    const byId = new Map(r.messages.map((c) => [c.id, c]));
    expect(byId.get(two.id)).toMatchObject({ status: 'delivered', previousStatus: 'submitted' });
    expect(byId.get(one.id)).toMatchObject({ status: 'delivered', previousStatus: 'submitted' });
    // Under any_failure one undelivered part decides, with that part's error code.
    expect(byId.get(other.id)).toMatchObject({ status: 'undelivered', errorCode: '001' });
    const d = await repo.get(ws.workspaceId, two.id);
    expect(d!.parts.map((p) => p.status)).toEqual(['delivered', 'delivered']);
    expect(d!.finalAt?.getTime()).toBe(t + 5);
    const o = await repo.get(ws.workspaceId, other.id);
    expect(o!.parts.map((p) => p.status)).toEqual(['submitted', 'undelivered']);
    expect(o!.events.at(-1)).toMatchObject({
      status: 'undelivered',
      detail: expect.objectContaining({ parts: ['submitted', 'undelivered'] }),
    });
  });

  it('honours another multipart rule when asked', async () => {
    const m = await submitted(ws.workspaceId, 2);
    const at = new Date();
    const r = await outcomes.applyPartStatuses([{ ...partOf(m, 0), status: 'delivered', at }], {
      rule: 'any_delivered',
    });
    expect(r.messages.map((c) => c.status)).toEqual(['delivered']);
  });

  it('finds the latest message a reply answers', async () => {
    const customer = '+14155559876';
    const older = await submitted(ws.workspaceId, 1, { to: customer, metadata: { order_id: 'A1' } });
    const newer = await submitted(ws.workspaceId, 1, {
      to: customer,
      metadata: { order_id: 'B2' },
      acceptedAt: new Date(Date.now() + 1_000),
    });
    // A message still waiting to leave never reached the customer, so it is not what they answer.
    await repo.insertAccepted([
      row(ws.workspaceId, { to: customer, acceptedAt: new Date(Date.now() + 2_000) }),
    ]);
    const replies = engine.app.get(RepliesRepository);
    const since = new Date(Date.now() - 60_000);
    const [hit] = await replies.latestOutboundMany([{ from: customer, to: '+14155550100' }], since);
    expect(hit).toMatchObject({
      messageId: newer.id,
      metadata: { order_id: 'B2' },
      workspaceId: ws.workspaceId,
    });
    expect(await replies.latestOutboundMany([{ from: customer, to: '+14155550101' }], since)).toEqual([]);
    expect(
      await replies.latestOutboundMany(
        [{ from: customer, to: '+14155550100' }],
        new Date(Date.now() + 60_000),
      ),
    ).toEqual([]);
    expect(older.id).not.toBe(newer.id);
  });

  it('lists messages fenced and never answered', async () => {
    const r = row(ws.workspaceId);
    await repo.insertAccepted([r]);
    await take([r]);
    const stuck = await records.stuckSubmitting(new Date(Date.now() + 1_000), 100_000);
    expect(stuck.map((s) => s.id)).toContain(r.id);
    const none = await records.stuckSubmitting(new Date(Date.now() - 60_000), 100_000);
    expect(none.map((s) => s.id)).not.toContain(r.id);
  });

  it('walls tenants: get() with another workspace finds nothing', async () => {
    const other = await engine.workspace();
    const r = row(ws.workspaceId);
    await repo.insertAccepted([r]);
    expect(await repo.get(other.workspaceId, r.id)).toBeUndefined();
    expect(await repo.get(ws.workspaceId, r.id)).toBeDefined();
  });
});

/** Everything on the priority topic of this test file's engine, read with a real consumer. */
class PriorityTopic {
  readonly records: { key: string; value: any; partition: number; offset: number }[] = [];
  private consumer?: Consumer;

  async start() {
    const kafka = engine.app.get(KafkaService);
    await kafka.topicsReady;
    this.consumer = kafka.kafka.consumer({ groupId: `messages-test-${randomUUID()}`, maxWaitTimeInMs: 100 });
    await this.consumer.connect();
    await this.consumer.subscribe({
      topic: engine.app.get(ConfigService).topic('sms.outbound.priority'),
      fromBeginning: true,
    });
    await this.consumer.run({
      eachMessage: async ({ message, partition }) => {
        this.records.push({
          key: message.key!.toString(),
          value: JSON.parse(message.value!.toString()),
          partition,
          offset: Number(message.offset),
        });
      },
    });
  }

  async find(id: string) {
    return eventually(async () => this.records.find((r) => r.value.id === id), 30_000);
  }

  async stop() {
    await this.consumer?.disconnect();
  }
}

describe('POST /v1/messages', () => {
  let api: ApiClient;
  const topic = new PriorityTopic();
  beforeAll(async () => {
    api = await engine.workspace();
    await topic.start();
  });
  afterAll(async () => topic.stop());

  it('accepts: 202, a stored row, and a record on the priority topic keyed by E.164', async () => {
    const r = await api.post('/v1/messages', {
      to: '+1 (415) 555-0123',
      body: 'Your order A-1 ships today',
      metadata: { order_id: 'A-1' },
      validity_seconds: 3600,
      status_callback: 'https://example.com/status',
    });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'accepted',
      to: '+14155550123',
      from: expect.stringMatching(/^\+1415555010[0-3]$/),
      encoding: 'GSM-7',
      segments: 1,
    });
    const stored = await repo.get(api.workspaceId, r.body.id);
    expect(stored).toMatchObject({
      status: 'accepted',
      type: 'transactional',
      to: '+14155550123',
      sender: r.body.from,
      carrierId: 'us-beta',
      connectorId: 'smpp',
      metadata: { order_id: 'A-1' },
      statusCallback: 'https://example.com/status',
    });
    expect(stored!.validUntil!.getTime() - stored!.acceptedAt.getTime()).toBe(3_600_000);
    const rec = await topic.find(r.body.id);
    expect(rec.key).toBe('+14155550123');
    expect(rec.value).toEqual({
      id: r.body.id,
      workspaceId: api.workspaceId,
      to: '+14155550123',
      from: r.body.from,
      body: 'Your order A-1 ships today',
      encoding: 'GSM-7',
      segments: 1,
      type: 'transactional',
      acceptedAt: stored!.acceptedAt.getTime(),
      validUntil: stored!.validUntil!.getTime(),
    });
  });

  it('counts accepted messages in Prometheus', async () => {
    const metric = async () => {
      const text = (await api.get('/metrics')).text;
      const m = /^parley_messages_accepted_total\{type="transactional"\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await metric();
    expect((await api.post('/v1/messages', { to: '+14155550124', body: 'hi' })).status).toBe(202);
    expect(await metric()).toBe(before + 1);
  });

  it('encodes UCS-2, counts segments, and keeps a sender sticky per recipient', async () => {
    const a = await api.post('/v1/messages', { to: '+33612345678', body: 'Livraison prévue ✓ 🚚' });
    expect(a.status).toBe(202);
    expect(a.body).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    const b = await api.post('/v1/messages', { to: '+33612345678', body: 'x'.repeat(161) });
    expect(b.body).toMatchObject({ encoding: 'GSM-7', segments: 2, from: a.body.from });
    const named = await api.post('/v1/messages', { to: '+33612345678', from: '72725', body: 'hi' });
    expect(named.status).toBe(202);
    expect(named.body.from).toBe('72725');
  });

  it('replays the first response for the same Idempotency-Key and body, 409 for another body', async () => {
    const key = `idem-${randomUUID()}`;
    const body = { to: '+14155550125', body: 'once only' };
    const first = await api.post('/v1/messages', body, { 'idempotency-key': key });
    expect(first.status).toBe(202);
    const again = await api.post('/v1/messages', body, { 'idempotency-key': key });
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await api.post(
      '/v1/messages',
      { ...body, body: 'something else' },
      { 'idempotency-key': key },
    );
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_key_reused');
    // The replay produced nothing new: one record for that number and text.
    await topic.find(first.body.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(topic.records.filter((x) => x.value.body === 'once only')).toHaveLength(1);
  });

  const field = (r: { status: number; body: any }) => {
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('validation_failed');
    return r.body.error.details.issues.map((i: { path: string }) => i.path);
  };

  it('refuses an invalid number naming `to` with the reason', async () => {
    const r = await api.post('/v1/messages', { to: '+1415', body: 'hi' });
    expect(field(r)).toEqual(['to']);
    expect(r.body.error.message).toMatch(/^to: /);
    expect(r.body.error.details.issues[0].code).toBe('TOO_SHORT');
    const letters = await api.post('/v1/messages', { to: 'call me', body: 'hi' });
    expect(field(letters)).toEqual(['to']);
    expect(field(await api.post('/v1/messages', { body: 'hi' }))).toEqual(['to']);
  });

  it('refuses an empty or over-long body naming `body`, unless allow_long', async () => {
    expect(field(await api.post('/v1/messages', { to: '+14155550126', body: '' }))).toEqual(['body']);
    expect(field(await api.post('/v1/messages', { to: '+14155550126', body: '   ' }))).toEqual(['body']);
    const long = 'a'.repeat(153 * 10 + 1);
    const r = await api.post('/v1/messages', { to: '+14155550126', body: long });
    expect(field(r)).toEqual(['body']);
    expect(r.body.error.message).toBe('body: is 11 segments (GSM-7); more than 10 needs allow_long: true');
    const ok = await api.post('/v1/messages', { to: '+14155550126', body: long, allow_long: true });
    expect(ok.status).toBe(202);
    expect(ok.body.segments).toBe(11);
    const ten = await api.post('/v1/messages', { to: '+14155550126', body: 'a'.repeat(153 * 10) });
    expect(ten.status).toBe(202);
  });

  it('refuses an unknown sender naming `from`', async () => {
    const r = await api.post('/v1/messages', { to: '+14155550127', from: '+19995550000', body: 'hi' });
    expect(field(r)).toEqual(['from']);
    expect(r.body.error.message).toMatch(/^from: /);
  });

  it('refuses a status_callback that is not https naming it; http is fine for loopback here', async () => {
    const r = await api.post('/v1/messages', {
      to: '+14155550128',
      body: 'hi',
      status_callback: 'http://example.com/cb',
    });
    expect(field(r)).toEqual(['status_callback']);
    expect(
      field(await api.post('/v1/messages', { to: '+14155550128', body: 'hi', status_callback: 'nope' })),
    ).toEqual(['status_callback']);
    const loop = await api.post('/v1/messages', {
      to: '+14155550128',
      body: 'hi',
      status_callback: 'http://127.0.0.1:9999/cb',
    });
    expect(loop.status).toBe(202);
  });

  it('names every bad field at once, and unknown fields too', async () => {
    const r = await api.post('/v1/messages', {
      to: 'x',
      body: '',
      status_callback: 'ftp://a',
    });
    expect(field(r).sort()).toEqual(['body', 'status_callback', 'to']);
    expect(field(await api.post('/v1/messages', { to: '+14155550129', body: 'hi', From: '72725' }))).toEqual([
      'From',
    ]);
    const typed = await api.post('/v1/messages', { to: '+14155550129', body: 42 });
    expect(field(typed)).toEqual(['body']);
  });
});

describe('MessagesService.accept for other senders', () => {
  it('stores a given id once, flags auto-replies and the opt-out confirmation on the envelope', async () => {
    const api = await engine.workspace();
    const topic = new PriorityTopic();
    await topic.start();
    try {
      const svc = engine.app.get(MessagesService);
      const ws = { id: api.workspaceId, name: api.workspaceName };
      const id = randomUUID();
      const input = { to: '+14155550170', body: 'You are unsubscribed. No more messages.' };
      const opts = { autoReply: true, ids: [id], optOutConfirmation: [true] };
      const [first] = await svc.accept(ws, [input], opts);
      const [again] = await svc.accept(ws, [input], opts);
      expect(first).toMatchObject({ ok: true, message: { id } });
      expect(again).toMatchObject({ ok: true, message: { id } });
      const stored = await repo.get(api.workspaceId, id);
      expect(stored).toMatchObject({ autoReply: true });
      expect(stored!.events).toHaveLength(1);
      const rec = await topic.find(id);
      expect(rec.value).toMatchObject({ autoReply: true, optOutConfirmation: true });
      await expect(svc.accept(ws, [input, input], { ids: [id] })).rejects.toThrow(
        /1 ids given for 2 messages/,
      );
    } finally {
      await topic.stop();
    }
  });
});

describe('POST /v1/messages/batch', () => {
  let api: ApiClient;
  const topic = new PriorityTopic();
  beforeAll(async () => {
    api = await engine.workspace();
    await topic.start();
  });
  afterAll(async () => topic.stop());

  it('accepts the valid items and reports each invalid one by index', async () => {
    const to = '+14155550140';
    const r = await api.post('/v1/messages/batch', {
      messages: [
        { to, body: 'first' },
        { to: 'not a number', body: 'x' },
        { to, body: 'second' },
        { to: '+14155550141', body: '' },
        { to, from: '+19995550000', body: 'x' },
        { to, body: 'third', metadata: { n: 3 } },
      ],
    });
    expect(r.status).toBe(200);
    const results = r.body.results;
    expect(results.map((x: any) => [x.index, x.status])).toEqual([
      [0, 'accepted'],
      [1, 'invalid'],
      [2, 'accepted'],
      [3, 'invalid'],
      [4, 'invalid'],
      [5, 'accepted'],
    ]);
    expect(results[1].error.details.issues[0].path).toBe('to');
    expect(results[3].error.message).toBe('body: must not be empty');
    expect(results[4].error.details.issues[0].path).toBe('from');
    expect(results[0]).toMatchObject({ to, encoding: 'GSM-7', segments: 1, id: expect.any(String) });

    const accepted = [results[0], results[2], results[5]];
    for (const a of accepted) expect((await repo.get(api.workspaceId, a.id))?.status).toBe('accepted');
    // Messages to one number stay in order on one partition.
    const recs = await Promise.all(accepted.map((a: any) => topic.find(a.id)));
    expect(new Set(recs.map((x) => x.partition)).size).toBe(1);
    expect(recs.map((x) => x.offset)).toEqual([...recs.map((x) => x.offset)].sort((a, b) => a - b));
    expect(recs.map((x) => x.value.body)).toEqual(['first', 'second', 'third']);
    expect(recs.every((x) => x.key === to)).toBe(true);
  });

  it('takes 1,000 messages in one request and refuses more, naming `messages`', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({
      to: `+1415555${String(3000 + i).padStart(4, '0')}`,
      body: `bulk ${i}`,
    }));
    const r = await api.post('/v1/messages/batch', { messages: many });
    expect(r.status).toBe(200);
    expect(r.body.results.filter((x: any) => x.status === 'accepted')).toHaveLength(1000);
    const last = r.body.results[999];
    await topic.find(last.id);
    const tooMany = await api.post('/v1/messages/batch', { messages: [...many, many[0]] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.issues[0].path).toBe('messages');
    const empty = await api.post('/v1/messages/batch', { messages: [] });
    expect(empty.status).toBe(400);
  });

  it('keeps one sticky sender per number across a batch, asking Redis once per `from`', async () => {
    const directory = engine.app.get(CarrierDirectory);
    const redis = engine.app.get<IORedis>(REDIS);
    const ref = { id: api.workspaceId, name: api.workspaceName };
    const { members } = directory.sendersNamed(ref, undefined);
    expect(members.length).toBeGreaterThan(1);
    const [x, y] = ['+14155550160', '+14155550161'];
    // x already has a sender that the hash would not pick: the remembered one must win.
    const remembered = members.find((m) => m.address !== stableChoice(members, x).address)!.address;
    await redis.hset(stickyKey(api.workspaceId, 'default'), x, remembered);
    const calls: (string | undefined)[] = [];
    const original = directory.resolveSenders.bind(directory);
    directory.resolveSenders = (ws, from, recipients) => {
      calls.push(from);
      return original(ws, from, recipients);
    };
    try {
      const r = await api.post('/v1/messages/batch', {
        messages: [
          { to: x, body: 'one' },
          { to: y, body: 'two' },
          { to: x, body: 'three' },
          { to: y, from: 'no-such-pool', body: 'four' },
          { to: y, from: '72725', body: 'five' },
          { to: '12', body: 'six' },
          { to: y, body: 'seven', smart_encoding: 'yes' },
          { to: y, body: 'eight' },
        ],
      });
      expect(r.status).toBe(200);
      const res = r.body.results;
      expect(res.map((o: any) => o.status)).toEqual([
        'accepted',
        'accepted',
        'accepted',
        'invalid',
        'accepted',
        'invalid',
        'invalid',
        'accepted',
      ]);
      expect([res[0].from, res[2].from]).toEqual([remembered, remembered]);
      expect(res[1].from).toBe(stableChoice(members, y).address);
      expect(res[7].from).toBe(res[1].from);
      expect(res[4].from).toBe('72725');
      expect(res[3].error.details.issues).toEqual([
        expect.objectContaining({ path: 'from', message: expect.stringContaining('no-such-pool') }),
      ]);
      expect(res[5].error.details.issues[0].path).toBe('to');
      expect(res[6].error.details.issues[0].path).toBe('smart_encoding');
      // One resolveSenders per distinct `from` (each one Redis round trip at most), not per item.
      expect(calls.sort()).toEqual(['72725', 'no-such-pool', undefined].sort());
      expect(await redis.hget(stickyKey(api.workspaceId, 'default'), y)).toBe(res[1].from);
      // The choice holds for the next request too.
      const later = await api.post('/v1/messages', { to: y, body: 'later' });
      expect(later.body.from).toBe(res[1].from);
    } finally {
      directory.resolveSenders = original;
    }
  });

  it('replays a batch for the same Idempotency-Key', async () => {
    const key = `batch-${randomUUID()}`;
    const body = { messages: [{ to: '+14155550150', body: 'a' }] };
    const first = await api.post('/v1/messages/batch', body, { 'idempotency-key': key });
    const again = await api.post('/v1/messages/batch', body, { 'idempotency-key': key });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });
});

describe('OpenAPI', () => {
  it('documents the messages routes from the code', async () => {
    const doc = await new ApiClient(engine.url, undefined).get('/docs-json');
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/messages', '/v1/messages/batch', '/v1/messages/{id}']),
    );
    const send = doc.body.paths['/v1/messages'].post;
    expect(Object.keys(send.requestBody.content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining([
        'to',
        'from',
        'body',
        'metadata',
        'validity_seconds',
        'status_callback',
        'allow_long',
      ]),
    );
  });
});

describe('GET /v1/messages/:id', () => {
  it('shows status, carrier, sender, segments, parts and events with times', async () => {
    const api = await engine.workspace();
    const sent = await api.post('/v1/messages', { to: '+14155550160', body: 'y'.repeat(200) });
    expect(sent.status).toBe(202);
    const id = sent.body.id;
    const fresh = await api.get(`/v1/messages/${id}`);
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({
      id,
      status: 'accepted',
      to: '+14155550160',
      from: sent.body.from,
      carrier: 'us-beta',
      segments: 2,
      encoding: 'GSM-7',
      error_code: null,
      parts: [],
      events: [{ status: 'accepted', at: expect.any(String), detail: {} }],
    });

    // What the dispatcher and the receipts consumer would do.
    const accepted = (await repo.get(api.workspaceId, id))!;
    await take([{ ...accepted, id, workspaceId: api.workspaceId }]);
    await records.markSubmitted([
      {
        id,
        workspaceId: api.workspaceId,
        carrierId: 'us-beta',
        connectorId: 'smpp',
        carrierMessageIds: [`c1-${id}`, `c2-${id}`],
        receiptKeys: [`c1-${id}`, `c2-${id}`],
        submittedAt: new Date(),
      },
    ]);
    await outcomes.applyPartStatuses([
      { ...partOf({ id }, 0), status: 'delivered', at: new Date() },
      {
        ...partOf({ id }, 1),
        status: 'undelivered',
        errorCode: '001',
        at: new Date(),
      },
    ]);
    const done = await api.get(`/v1/messages/${id}`);
    expect(done.body).toMatchObject({
      status: 'undelivered',
      error_code: '001',
      connector: 'smpp',
      submitted_at: expect.any(String),
      final_at: expect.any(String),
      parts: [
        { index: 0, carrier_message_id: `c1-${id}`, status: 'delivered', done_at: expect.any(String) },
        { index: 1, carrier_message_id: `c2-${id}`, status: 'undelivered', error_code: '001' },
      ],
    });
    expect(done.body.events.map((e: any) => e.status)).toEqual(['accepted', 'submitted', 'undelivered']);
    for (const e of done.body.events) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
  });

  it("walls tenants: another workspace's message is 404, and so is a malformed id", async () => {
    const a = await engine.workspace();
    const b = await engine.workspace();
    const sent = await a.post('/v1/messages', { to: '+14155550161', body: 'private' });
    expect((await a.get(`/v1/messages/${sent.body.id}`)).status).toBe(200);
    const other = await b.get(`/v1/messages/${sent.body.id}`);
    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe('not_found');
    expect((await a.get('/v1/messages/not-a-uuid')).status).toBe(404);
    expect((await a.withKey(undefined).get(`/v1/messages/${sent.body.id}`)).status).toBe(401);
  });
});

describe('when Kafka does not acknowledge', () => {
  it('answers 503 and ends the stored message visibly instead of leaving it accepted', async () => {
    const dead = await startEngine({ PARLEY_ROLES: 'api', KAFKA_BROKERS: '127.0.0.1:9' });
    try {
      const api = await dead.workspace();
      const r = await api.post('/v1/messages', { to: '+14155550180', body: 'lost?' });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe('unavailable');
      const db = dead.app.get<Db>(DB);
      const rows = await db
        .selectFrom('messages')
        .select(['status', 'error_code'])
        .where('workspace_id', '=', api.workspaceId)
        .execute();
      expect(rows).toEqual([{ status: 'failed', error_code: 'enqueue_failed' }]);
    } finally {
      await dead.close();
    }
  }, 120_000);
});
