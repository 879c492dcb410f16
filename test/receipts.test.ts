// Receipts against the real stack: receipts produced to Kafka become statuses (multipart, late
// ENROUTE, hex/decimal ids, parked receipts matched later), Twilio-style webhooks refuse bad
// signatures and feed the same topic, customer callbacks are signed and retried in order, and the
// metrics move.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getQueueToken } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsumerHost } from '../src/infra/kafka/consumer-host';
import { KafkaService } from '../src/infra/kafka/kafka.service';
import { defaultCarriersFile } from '../src/modules/carriers/carriers.config';
import { ConnectorRegistry } from '../src/modules/carriers/connector-registry.service';
import { storedReceiptKey } from '../src/modules/carriers/receipt-id';
import { CarrierSimulator } from '../src/simulator/carrier-simulator';
import { twilioSignature } from '../src/modules/carriers/twilio/twilio-signature';
import { TwilioConnector, TwilioConnectorConfig } from '../src/modules/carriers/twilio/twilio.connector';
import {
  DispatchRecordRepository,
  PartitionLeaseRepository,
} from '../src/modules/dispatch/dispatch-record.repository';
import { MessageRepository } from '../src/modules/messages/message.repository';
import type { ReceiptEnvelope } from '../src/modules/messages/message.types';
import { ParkedReceiptRepository } from '../src/modules/receipts/parked-receipt.repository';
import { StatusCallbackRepository } from '../src/modules/receipts/status-callback.repository';
import { ReceiptApplier } from '../src/modules/receipts/receipt-applier.service';
import { CALLBACK_QUEUE, CallbackJob, messageIdsOf } from '../src/modules/receipts/status-callback.service';
import { verifyParleySignature } from '../src/modules/receipts/parley-signature';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';

const TOKEN = 'dev-auth-token';
// The engine listens on a port chosen up front so its public URL (where the simulator posts status
// callbacks, and what webhook signatures cover) is known before it starts.
let PUBLIC_URL = '';

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

let engine: TestEngine;
let api: ApiClient;
let messages: MessageRepository;
let kafka: KafkaService;

beforeAll(async () => {
  const port = await freePort();
  PUBLIC_URL = `http://127.0.0.1:${port}`;
  // A second SMPP connector whose SMSC answers in hex and reports in decimal.
  const file = defaultCarriersFile();
  const smpp = file.connectors.find((c) => c.kind === 'smpp')!;
  file.connectors.push({ ...smpp, id: 'smpp-hexdec', receipt_id_format: 'resp_hex_receipt_dec' });
  const carriersFile = path.join(os.tmpdir(), `parley-receipts-main-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(carriersFile, JSON.stringify(file));
  engine = await startEngine({
    PORT: String(port),
    PARLEY_PUBLIC_URL: PUBLIC_URL,
    PARLEY_CARRIERS_FILE: carriersFile,
  });
  api = await engine.workspace();
  messages = engine.app.get(MessageRepository);
  kafka = engine.app.get(KafkaService);
  await kafka.topicsReady;
});
afterAll(async () => engine?.close());

let seq = 0;
function number(): string {
  // A valid San Francisco number: the exchange (first 3 of the 7 digits) starts with 2–9.
  return `+1415${2 + (seq % 8)}${String(Date.now() % 100_000).padStart(5, '0')}${seq++ % 10}`;
}
const carrierId = () => randomBytes(5).toString('hex');

/** The fence a dispatcher writes before a message leaves (under a lease of this file's own group). */
async function takeAs(id: string, to: string, connectorId: string, sender = '+14155550100') {
  const group = `receipts-test-${api.workspaceId}`;
  const leases = engine.app.get(PartitionLeaseRepository);
  const epoch = (await leases.acquire(group, 'me', [{ topic: 't', partition: 0 }])).get('t:0')!;
  return engine.app.get(DispatchRecordRepository).take(group, [
    {
      id,
      workspaceId: api.workspaceId,
      type: 'transactional',
      to,
      sender,
      body: 'Your order ships today',
      encoding: 'GSM-7',
      segments: 1,
      carrierId: 'us-alpha',
      connectorId,
      topic: 't',
      partition: 0,
      epoch,
    },
  ]);
}

/** A message accepted, taken and submitted with these carrier ids (one per part). */
async function submitted(
  parts: string[],
  opts: { connectorId?: string; statusCallback?: string; to?: string } = {},
): Promise<{ id: string; to: string }> {
  const id = randomUUID();
  const to = opts.to ?? number();
  await messages.insertAccepted([
    {
      id,
      workspaceId: api.workspaceId,
      type: 'transactional',
      to,
      sender: '+14155550100',
      body: 'Your order ships today',
      encoding: 'GSM-7',
      segments: parts.length,
      statusCallback: opts.statusCallback ?? null,
    },
  ]);
  const connectorId = opts.connectorId ?? 'smpp';
  expect([...(await takeAs(id, to, connectorId))]).toEqual([id]);
  const format = engine.app.get(ConnectorRegistry).receiptIdFormatOf(connectorId);
  await engine.app.get(DispatchRecordRepository).markSubmitted([
    {
      id,
      workspaceId: api.workspaceId,
      carrierId: 'us-alpha',
      connectorId,
      carrierMessageIds: parts,
      receiptKeys: parts.map((p) => storedReceiptKey(format, p)),
      submittedAt: new Date(Date.now() - 1_500),
    },
  ]);
  return { id, to };
}

function dlr(id: string, stat: string, err = '000'): string {
  return `id:${id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:2611261030 done date:2611261031 stat:${stat} err:${err} text:Your order ships tod`;
}

async function produceReceipts(to: string, receipts: Partial<ReceiptEnvelope>[]) {
  await kafka.produce(
    'sms.receipts',
    receipts.map((r) => ({
      key: to,
      value: JSON.stringify({ connectorId: 'smpp', recipient: to, receivedAt: Date.now(), ...r }),
    })),
  );
}

async function statusOf(id: string) {
  return (await messages.get(api.workspaceId, id))!;
}

async function until(id: string, status: string, timeoutMs = 20_000) {
  return eventually(async () => {
    const m = await statusOf(id);
    return m.status === status ? m : undefined;
  }, timeoutMs);
}

describe('receipts from Kafka', () => {
  it('delivers a single-part message and keeps the error code of a failed one', async () => {
    const okId = carrierId();
    const badId = carrierId();
    const ok = await submitted([okId]);
    const bad = await submitted([badId]);
    await produceReceipts(ok.to, [{ carrierMessageId: okId, raw: dlr(okId, 'DELIVRD') }]);
    await produceReceipts(bad.to, [{ carrierMessageId: badId, raw: dlr(badId, 'UNDELIV', '034') }]);
    const m = await until(ok.id, 'delivered');
    expect(m.parts[0].status).toBe('delivered');
    const b = await until(bad.id, 'undelivered');
    expect(b.errorCode).toBe('034');
  });

  it('matches a decimal receipt id to a hex submit_sm_resp id where the connector says so, and the TLV state over the text', async () => {
    const hex = randomBytes(4).toString('hex');
    const msg = await submitted([hex], { connectorId: 'smpp-hexdec' });
    const decimal = String(parseInt(hex, 16)).padStart(10, '0');
    // Jasmin-style: no sub/dlvrd, the text's id in zero-padded decimal, message_state 2 (DELIVERED).
    await produceReceipts(msg.to, [
      {
        connectorId: 'smpp-hexdec',
        carrierMessageId: decimal,
        raw: `id:${decimal} submit date:2611261030 done date:2611261030 stat:ENROUTE err:000\u0000`,
        messageState: 2,
      },
    ]);
    await until(msg.id, 'delivered');
    // On a connector that reports ids as they are, the same decimal receipt is no hex id's.
    const asIs = await submitted([hex]);
    const sentinelId = carrierId();
    const sentinel = await submitted([sentinelId], { to: asIs.to });
    await produceReceipts(asIs.to, [
      { carrierMessageId: decimal, raw: `id:${decimal} stat:DELIVRD err:000`, messageState: 2 },
      { carrierMessageId: sentinelId, raw: dlr(sentinelId, 'DELIVRD') },
    ]);
    await until(sentinel.id, 'delivered');
    expect((await statusOf(asIs.id)).status).toBe('submitted');
  });

  it('aggregates multipart: delivered only when every part is, failed parts decide otherwise', async () => {
    const a = [carrierId(), carrierId(), carrierId()];
    const all = await submitted(a);
    await produceReceipts(all.to, [
      { carrierMessageId: a[0], raw: dlr(a[0], 'DELIVRD') },
      { carrierMessageId: a[1], raw: dlr(a[1], 'DELIVRD') },
    ]);
    await eventually(
      async () => (await statusOf(all.id)).parts.filter((p) => p.status === 'delivered').length === 2,
    );
    expect((await statusOf(all.id)).status).toBe('sent');
    await produceReceipts(all.to, [{ carrierMessageId: a[2], raw: dlr(a[2], 'DELIVRD') }]);
    await until(all.id, 'delivered');

    const b = [carrierId(), carrierId()];
    const mixed = await submitted(b);
    await produceReceipts(mixed.to, [
      { carrierMessageId: b[0], raw: dlr(b[0], 'DELIVRD') },
      { carrierMessageId: b[1], raw: dlr(b[1], 'UNDELIV', '001') },
    ]);
    const m = await until(mixed.id, 'undelivered');
    expect(m.parts.map((p) => p.status)).toEqual(['delivered', 'undelivered']);
  });

  it('never lets a late ENROUTE overwrite delivered', async () => {
    const cid = carrierId();
    const msg = await submitted([cid]);
    await produceReceipts(msg.to, [{ carrierMessageId: cid, raw: dlr(cid, 'DELIVRD') }]);
    await until(msg.id, 'delivered');
    // Same key, same partition: once the sentinel is applied the ENROUTE before it was too.
    const sentinelId = carrierId();
    const sentinel = await submitted([sentinelId], { to: msg.to });
    await produceReceipts(msg.to, [
      { carrierMessageId: cid, raw: dlr(cid, 'ENROUTE') },
      { carrierMessageId: sentinelId, raw: dlr(sentinelId, 'DELIVRD') },
    ]);
    await until(sentinel.id, 'delivered');
    const m = await statusOf(msg.id);
    expect(m.status).toBe('delivered');
    expect(m.parts[0].status).toBe('delivered');
  });

  it('parks a receipt that arrives before its submit is stored, and matches it later', async () => {
    const parked = engine.app.get(ParkedReceiptRepository);
    const cid = carrierId();
    const to = number();
    const before = await parked.countWaiting();
    await produceReceipts(to, [{ carrierMessageId: cid, raw: dlr(cid, 'DELIVRD') }]);
    await eventually(async () => (await parked.countWaiting()) > before);
    const metrics = await eventually(async () => {
      const t = (await api.get('/metrics')).text;
      return /^parley_parked_receipts [1-9]/m.test(t) ? t : undefined;
    });
    expect(metrics).toContain('parley_parked_receipts');
    const msg = await submitted([cid], { to });
    await until(msg.id, 'delivered', 30_000);
  });

  it('looks a receipt that overtook its submit up once more before parking it', async () => {
    const cid = carrierId();
    const to = number();
    const applying = engine.app.get(ReceiptApplier).apply(
      [
        {
          envelope: {
            connectorId: 'smpp',
            carrierMessageId: cid,
            recipient: to,
            raw: dlr(cid, 'DELIVRD'),
            receivedAt: Date.now(),
          },
        },
      ],
      { unmatchedRetryMs: 1_500 },
    );
    await new Promise((r) => setTimeout(r, 100));
    const msg = await submitted([cid], { to });
    expect(await applying).toMatchObject({ applied: 1, parked: 0 });
    expect((await statusOf(msg.id)).status).toBe('delivered');
  });

  it('keeps a receipt with a state it cannot map, without changing the status', async () => {
    const cid = carrierId();
    const msg = await submitted([cid]);
    const sentinelId = carrierId();
    const sentinel = await submitted([sentinelId], { to: msg.to });
    await produceReceipts(msg.to, [
      { carrierMessageId: cid, raw: dlr(cid, 'FAILED', '069') },
      { carrierMessageId: sentinelId, raw: dlr(sentinelId, 'DELIVRD') },
    ]);
    await until(sentinel.id, 'delivered');
    expect((await statusOf(msg.id)).status).toBe('submitted');
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toMatch(
      /parley_receipts_total\{carrier="us-alpha",connector="smpp",status="unknown",error_code="069"\} [1-9]/,
    );
  });
});

describe('Twilio-style webhooks', () => {
  /** Collects what reaches sms.receipts / sms.inbound, independent of the engine's consumers. */
  async function observe(topic: 'sms.receipts' | 'sms.inbound') {
    const seen: any[] = [];
    await engine.app.get(ConsumerHost).start({
      groupId: `observer-${topic}-${randomBytes(3).toString('hex')}`,
      topics: [topic],
      async handle(batch) {
        for (const m of batch.messages) {
          seen.push(JSON.parse(m.value!.toString()));
          batch.resolveOffset(m.offset);
        }
      },
    });
    return seen;
  }

  function form(params: Record<string, string>) {
    return new URLSearchParams(params).toString();
  }

  async function postWebhook(path: string, params: Record<string, string>, signature?: string) {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (signature !== undefined) headers['x-twilio-signature'] = signature;
    return new ApiClient(engine.url, undefined).request('POST', path, form(params), headers);
  }

  it('refuses a bad or missing signature with 403 and records nothing; a valid one is applied', async () => {
    const receipts = await observe('sms.receipts');
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const msg = await submitted([sid], { connectorId: 'twilio' });
    const path = `/v1/webhooks/twilio/status?message_id=${msg.id}`;
    const params = {
      MessageSid: sid,
      MessageStatus: 'delivered',
      To: msg.to,
      From: '+18885550199',
      AccountSid: 'AC00000000000000000000000000000000',
    };

    const forged = await postWebhook(
      path,
      { ...params, MessageSid: 'SMforged' },
      twilioSignature(TOKEN, PUBLIC_URL + path, params),
    );
    expect(forged.status).toBe(403);
    expect(forged.body).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    const missing = await postWebhook(path, { ...params, MessageSid: 'SMmissing' });
    expect(missing.status).toBe(403);
    const wrongToken = await postWebhook(
      path,
      { ...params, MessageSid: 'SMwrongtoken' },
      twilioSignature('12345', PUBLIC_URL + path, { ...params, MessageSid: 'SMwrongtoken' }),
    );
    expect(wrongToken.status).toBe(403);

    const ok = await postWebhook(path, params, twilioSignature(TOKEN, PUBLIC_URL + path, params));
    expect(ok.status).toBe(204);
    await eventually(async () => receipts.some((r) => r.carrierMessageId === sid));
    expect(receipts.map((r) => r.carrierMessageId)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^SM(forged|missing|wrongtoken)$/)]),
    );
    expect(receipts.find((r) => r.carrierMessageId === sid)).toMatchObject({
      connectorId: 'twilio',
      messageState: 'delivered',
      recipient: msg.to,
    });
    await until(msg.id, 'delivered');
  });

  it('puts a signed inbound message on sms.inbound keyed by the customer', async () => {
    const inbound = await observe('sms.inbound');
    const from = number();
    const params = {
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      From: from,
      To: '+18885550199',
      Body: 'when will it arrive?',
    };
    const path = '/v1/webhooks/twilio/inbound';
    const bad = await postWebhook(path, params, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
    expect(bad.status).toBe(403);
    const ok = await postWebhook(path, params, twilioSignature(TOKEN, PUBLIC_URL + path, params));
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('<Response>');
    const got = await eventually(async () => inbound.find((m) => m.from === from));
    expect(got).toMatchObject({
      connectorId: 'twilio',
      to: '+18885550199',
      body: 'when will it arrive?',
      carrierMessageId: params.MessageSid,
    });
    expect(got.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(inbound.filter((m) => m.from === from)).toHaveLength(1);

    // The provider retries the same webhook (our answer was lost): same MessageSid, same id, so
    // the router stores and acts on it once.
    const again = await postWebhook(path, params, twilioSignature(TOKEN, PUBLIC_URL + path, params));
    expect(again.status).toBe(200);
    await eventually(async () => inbound.filter((m) => m.from === from).length === 2);
    expect(new Set(inbound.filter((m) => m.from === from).map((m) => m.id))).toEqual(new Set([got.id]));
  });

  it('answers 404 for a connector that is not a Twilio-style one', async () => {
    const r = await postWebhook('/v1/webhooks/smpp/status', { MessageSid: 'SM1' }, 'x');
    expect(r.status).toBe(404);
  });
});

describe('customer status callbacks', () => {
  let server: http.Server;
  let url: string;
  const received: { body: string; signature: string; at: number; answered: number }[] = [];
  let failNext = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const answered = failNext > 0 ? 500 : 200;
        if (failNext > 0) failNext--;
        received.push({
          body,
          signature: String(req.headers['parley-signature'] ?? ''),
          at: Date.now(),
          answered,
        });
        res.statusCode = answered;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/parley/status`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('serves and rotates the signing secret; the old one stays valid', async () => {
    const first = await api.get('/v1/workspace/webhook-secret');
    expect(first.status).toBe(200);
    expect(first.body.secret).toMatch(/^whsec_/);
    expect((await api.get('/v1/workspace/webhook-secret')).body.secret).toBe(first.body.secret);
    const rotated = await api.post('/v1/workspace/webhook-secret/rotate');
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).not.toBe(first.body.secret);
    expect(rotated.body.previous).toHaveLength(1);
    const expires = new Date(rotated.body.previous[0].expires_at).getTime();
    expect(expires - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    const other = await engine.workspace();
    expect((await other.get('/v1/workspace/webhook-secret')).body.secret).not.toBe(rotated.body.secret);
  });

  const mine = (id: string) => received.filter((r) => JSON.parse(r.body).message_id === id);

  it('signs a status change and retries a failed delivery after a backoff', async () => {
    const secrets = await api.get('/v1/workspace/webhook-secret');
    const cid = carrierId();
    const msg = await submitted([cid], { statusCallback: url });
    failNext = 1;
    await produceReceipts(msg.to, [{ carrierMessageId: cid, raw: dlr(cid, 'DELIVRD') }]);
    await eventually(async () => mine(msg.id).some((r) => r.answered === 200), 30_000);
    const all = mine(msg.id);
    expect(all.map((r) => r.answered)).toEqual([500, 200]);
    expect(all[1].at - all[0].at).toBeGreaterThanOrEqual(800);
    expect(all[0].body).toBe(all[1].body);
    for (const r of all)
      expect(verifyParleySignature(r.signature, r.body, secrets.body.secret).ok).toBe(true);
    // The rotated-out secret still signs during its day of grace (a second v1).
    expect(all[0].signature.match(/v1=/g)!.length).toBe(2);
    expect(JSON.parse(all[1].body)).toMatchObject({
      event: 'message.status',
      message_id: msg.id,
      status: 'delivered',
      previous_status: 'submitted',
      to: msg.to,
    });
    // The outbox row is updated once the 200 is read, a moment after the receiver answered it.
    const rows = await eventually(async () => {
      const r = await engine.app.get(StatusCallbackRepository).recent(api.workspaceId, msg.id);
      return r[0]?.state === 'delivered' ? r : undefined;
    });
    expect(rows).toMatchObject([{ state: 'delivered', attempts: 2, last_status_code: 200 }]);
  });

  it('enqueues one job for a batch of changes; a failing endpoint holds back only its own message', async () => {
    const ms = [];
    for (let i = 0; i < 3; i++) {
      const cid = carrierId();
      ms.push({ cid, ...(await submitted([cid], { statusCallback: url })) });
    }
    failNext = 1;
    const r = await engine.app.get(ReceiptApplier).apply(
      ms.map((m) => ({
        envelope: {
          connectorId: 'smpp',
          carrierMessageId: m.cid,
          recipient: m.to,
          raw: dlr(m.cid, 'DELIVRD'),
          receivedAt: Date.now(),
        },
      })),
    );
    expect(r.messages.map((c) => c.status)).toEqual(['delivered', 'delivered', 'delivered']);
    const queue = engine.app.get<Queue<CallbackJob>>(getQueueToken(CALLBACK_QUEUE));
    const ids = ms.map((m) => m.id);
    const jobs = (await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) =>
      messageIdsOf(j.data).some((id) => ids.includes(id)),
    );
    expect(jobs).toHaveLength(1);
    expect([...messageIdsOf(jobs[0].data)].sort()).toEqual([...ids].sort());
    await eventually(async () => ids.every((id) => mine(id).some((x) => x.answered === 200)), 30_000);
    // The one that failed was tried again; the others were delivered once, never repeated.
    const answers = ids.map((id) => mine(id).map((x) => x.answered));
    expect(answers.filter((a) => a.length === 2)).toEqual([[500, 200]]);
    expect(answers.filter((a) => a.length === 1)).toEqual([[200], [200]]);
  });

  it("keeps one message's callbacks in order when an earlier one fails", async () => {
    const cid = carrierId();
    const msg = await submitted([cid], { statusCallback: url });
    failNext = 1;
    await produceReceipts(msg.to, [{ carrierMessageId: cid, raw: dlr(cid, 'ENROUTE') }]);
    await until(msg.id, 'sent');
    await produceReceipts(msg.to, [{ carrierMessageId: cid, raw: dlr(cid, 'DELIVRD') }]);
    await eventually(async () => mine(msg.id).filter((r) => r.answered === 200).length === 2, 30_000);
    const all = mine(msg.id).map((r) => [JSON.parse(r.body).status, r.answered]);
    expect(all[0]).toEqual(['sent', 500]);
    // Nothing about `delivered` reaches the customer before `sent` was accepted.
    expect(all.filter(([, code]) => code === 200).map(([st]) => st)).toEqual(['sent', 'delivered']);
    const firstOk = all.findIndex(([, code]) => code === 200);
    expect(all.slice(0, firstOk).every(([st]) => st === 'sent')).toBe(true);
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toMatch(/parley_callback_deliveries_total\{outcome="failed"\} [1-9]/);
    expect(metrics).toMatch(/parley_callback_deliveries_total\{outcome="delivered"\} [1-9]/);
    expect(metrics).toMatch(
      /parley_receipts_total\{carrier="us-alpha",connector="smpp",status="delivered",error_code="none"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /parley_receipt_latency_seconds_count\{carrier="us-alpha",connector="smpp"\} [1-9]/,
    );
    expect(metrics).toMatch(/parley_messages_final_total\{status="delivered",type="transactional"\} [1-9]/);
    // promtool (Debian's prometheus package, present in CI) finds nothing wrong with ours.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    if (!lint.error) {
      const mine = `${lint.stdout}\n${lint.stderr}`
        .split('\n')
        .filter((l) =>
          /parley_(receipts|receipt_latency|parked_receipts|callback_deliveries|messages_final)/.test(l),
        );
      expect(mine).toEqual([]);
    }
  });
});

describe('Twilio-style connector against the simulator', () => {
  let sim: CarrierSimulator;
  let connector: TwilioConnector;

  beforeAll(async () => {
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 200 },
      twilioAccounts: { AC00000000000000000000000000000000: TOKEN },
    });
    await sim.start();
    const cfg = defaultCarriersFile().connectors.find((c) => c.kind === 'twilio') as TwilioConnectorConfig;
    connector = new TwilioConnector(
      { ...cfg, base_url: `http://127.0.0.1:${sim.httpPort}` },
      { authToken: TOKEN, publicUrl: PUBLIC_URL },
    );
    await connector.start();
  });
  afterAll(async () => {
    await connector?.stop();
    await sim?.stop();
  });

  it('sends form-encoded, gets the SID back, and the signed status callbacks make it delivered', async () => {
    const id = randomUUID();
    const to = number();
    await messages.insertAccepted([
      {
        id,
        workspaceId: api.workspaceId,
        type: 'transactional',
        to,
        sender: '+18885550199',
        body: 'Your courier is 10 minutes away',
        encoding: 'GSM-7',
        segments: 1,
      },
    ]);
    await takeAs(id, to, 'twilio', '+18885550199');
    const out = await connector.submit({
      messageId: id,
      from: '+18885550199',
      senderKind: 'toll_free',
      to,
      body: 'Your courier is 10 minutes away',
      encoding: 'GSM-7',
      parts: ['Your courier is 10 minutes away'],
    });
    expect(out.kind).toBe('accepted');
    const sid = (out as { carrierMessageIds: string[] }).carrierMessageIds[0];
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    await engine.app.get(DispatchRecordRepository).markSubmitted([
      {
        id,
        workspaceId: api.workspaceId,
        carrierId: 'us-alpha',
        connectorId: 'twilio',
        carrierMessageIds: [sid],
        receiptKeys: [storedReceiptKey('as_is', sid)],
        submittedAt: new Date(),
      },
    ]);
    const m = await until(id, 'delivered');
    expect(m.parts[0]).toMatchObject({ carrierMessageId: sid, connectorId: 'twilio', status: 'delivered' });
    expect(sim.stats().http.callbacks_failed).toBe(0);
  });

  it("fails on the provider's 4xx with its error code", async () => {
    const out = await connector.submit({
      messageId: randomUUID(),
      from: '+18885550199',
      senderKind: 'toll_free',
      to: '12345',
      body: 'x',
      encoding: 'GSM-7',
      parts: ['x'],
    });
    expect(out).toMatchObject({ kind: 'failed', code: '21211' });
  });

  it('lists the connectors with their kind and state', async () => {
    const r = await api.get('/v1/connectors');
    expect(r.status).toBe(200);
    const ids = r.body.data.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining(['smpp', 'twilio']));
    for (const c of r.body.data) {
      expect(c).toMatchObject({
        kind: expect.stringMatching(/^(smpp|twilio)$/),
        up: expect.any(Boolean),
        binds_up: expect.any(Number),
        binds_configured: expect.any(Number),
        in_flight: expect.any(Number),
        window: expect.any(Number),
        throttled: expect.any(Boolean),
      });
    }
  });
});

describe('end to end: API → dispatcher → both connectors → simulator → receipts', () => {
  let sim: CarrierSimulator;
  let e2e: TestEngine;
  let client: ApiClient;

  beforeAll(async () => {
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 100 },
    });
    await sim.start();
    const file = defaultCarriersFile();
    file.connectors = file.connectors.map((c) =>
      c.kind === 'smpp'
        ? { ...c, port: sim.smppPort }
        : { ...c, base_url: `http://127.0.0.1:${sim.httpPort}` },
    );
    const carriersFile = path.join(os.tmpdir(), `parley-receipts-${randomBytes(4).toString('hex')}.json`);
    writeFileSync(carriersFile, JSON.stringify(file));
    const port = await freePort();
    e2e = await startEngine({
      PORT: String(port),
      PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
      PARLEY_CARRIERS_FILE: carriersFile,
    });
    client = await e2e.workspace();
  });
  afterAll(async () => {
    await e2e?.close();
    await sim?.stop();
  });

  async function sendAndWait(body: Record<string, unknown>) {
    const r = await client.post('/v1/messages', body);
    expect(r.status).toBe(202);
    return eventually(async () => {
      const m = await client.get(`/v1/messages/${r.body.id}`);
      return m.body.status === 'delivered' ? m.body : undefined;
    }, 40_000);
  }

  it("delivers a two-part message over SMPP, aggregated from both parts' receipts", async () => {
    const m = await sendAndWait({
      to: number(),
      body: 'Your parcel 4711 is out for delivery today between 14:00 and 16:00. Reply WHEN for the exact time, CHANGE to pick another day, or SAFE to leave it with a neighbour. Thank you for ordering!',
    });
    expect(m.segments).toBe(2);
    expect(m.parts).toHaveLength(2);
    expect(JSON.stringify(m.parts)).not.toContain('"submitted"');
  });

  it('delivers through the Twilio-style connector with signed status callbacks', async () => {
    const m = await sendAndWait({
      to: number(),
      from: '+18885550199',
      body: 'Your courier is 10 minutes away',
    });
    expect(JSON.stringify(m)).toMatch(/SM[0-9a-f]{32}/);
    expect(sim.stats().http.callbacks_failed).toBe(0);
    const connectors = await client.get('/v1/connectors');
    const smpp = connectors.body.data.find((c: { id: string }) => c.id === 'smpp');
    expect(smpp).toMatchObject({ kind: 'smpp', up: true });
    expect(smpp.binds_up).toBeGreaterThan(0);
  });
});
