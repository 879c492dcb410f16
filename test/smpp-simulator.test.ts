// The SMPP connector against the carrier simulator over real TCP (ephemeral ports): binds, GSM-7
// and UCS-2 single and multipart submits reassembled by the SMSC, receipts per part, throttling and
// bind backoff, caps held, MO replies, reconnects, unanswered and lost submits, generic_nack; then
// the connector registry putting receipts and replies on Kafka.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { INestApplicationContext } from '@nestjs/common';
import type { Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '../src/config/config.module';
import { ConfigService } from '../src/config/config.service';
import { KafkaModule } from '../src/infra/kafka/kafka.module';
import { KafkaService } from '../src/infra/kafka/kafka.service';
import { AppLogger, createPino } from '../src/infra/logging/app-logger';
import { LoggingModule } from '../src/infra/logging/logging.module';
import { MetricsModule } from '../src/infra/metrics/metrics.module';
import { CarriersFile, defaultCarriersFile } from '../src/modules/carriers/carriers.config';
import type { RawInbound, RawReceipt, SubmitRequest } from '../src/modules/carriers/connector';
import { ConnectorRegistry } from '../src/modules/carriers/connector-registry.service';
import { ConnectorsModule } from '../src/modules/carriers/connectors.module';
import { CarrierSimulator } from '../src/simulator/carrier-simulator';
import { smpp } from '../src/modules/carriers/smpp/smpp-lib';
import { SmppConnector, SmppConnectorConfig } from '../src/modules/carriers/smpp/smpp.connector';
import { twilioSignature } from '../src/modules/carriers/twilio/twilio-signature';
import { analyzeText } from '../src/modules/encoding';
import { eventually } from './support/engine';
import { testEnv } from './support/env';

const FROM = '+14155550100';

function request(to: string, body: string, over: Partial<SubmitRequest> = {}): SubmitRequest {
  const a = analyzeText(body);
  return {
    messageId: randomUUID(),
    from: FROM,
    senderKind: 'long_code',
    to,
    body,
    encoding: a.encoding,
    parts: a.parts,
    ...over,
  };
}

function smppConfig(port: number, over: Partial<SmppConnectorConfig> = {}): SmppConnectorConfig {
  const base = defaultCarriersFile().connectors.find((c) => c.kind === 'smpp') as SmppConnectorConfig;
  return {
    ...base,
    port,
    binds: 2,
    window: 20,
    enquire_link_seconds: 1,
    response_timeout_ms: 1_000,
    ...over,
  };
}

const tuning = { reconnectInitialMs: 50, reconnectMaxMs: 500, backoffInitialMs: 100, backoffMaxMs: 1_000 };

describe('SMPP connector ↔ carrier simulator', () => {
  let sim: CarrierSimulator;
  let conn: SmppConnector;
  const receipts: RawReceipt[] = [];
  const inbound: RawInbound[] = [];

  beforeAll(async () => {
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: {
        seed: 42,
        receipt_delay_ms: { min: 10, max: 60 },
        outcomes: { delivered: 1 },
        rules: [
          { prefix: '+1555000', no_response: true },
          { prefix: '+447999', submit_error: 'ESME_RINVDSTADR' },
          { prefix: '+447998', outcome: 'undelivered' },
          { prefix: '+447997', reply: 'when will my order arrive?' },
          {
            prefix: '+447996',
            reply: 'Да, спасибо! Когда будет доставка? Я жду посылку уже третий день, напишите пожалуйста 😀',
          },
        ],
      },
    });
    await sim.start();
    conn = new SmppConnector(smppConfig(sim.smppPort), tuning);
    conn.onReceipt((r) => void receipts.push(r));
    conn.onInbound((m) => void inbound.push(m));
    await conn.start();
  });

  afterAll(async () => {
    await conn?.stop();
    await sim?.stop();
  });

  it('binds every configured bind_transceiver', async () => {
    await eventually(async () => conn.state().bindsUp === 2);
    expect(conn.state()).toMatchObject({
      id: 'smpp',
      kind: 'smpp',
      bindsUp: 2,
      bindsConfigured: 2,
      window: 40,
    });
    expect(sim.stats().binds).toBe(2);
  });

  it('refuses a bind with a wrong password', async () => {
    const bad = new SmppConnector(
      smppConfig(sim.smppPort, { id: 'bad', password: 'nope', binds: 1 }),
      tuning,
    );
    await bad.start();
    expect(bad.state().bindsUp).toBe(0);
    const out = await bad.submit(request('+447700900003', 'hi'));
    expect(out).toMatchObject({ kind: 'retry', code: 'NO_BIND' });
    await bad.stop();
  });

  it('submits a single GSM-7 message with extension characters; one receipt comes back', async () => {
    const body = 'Order {A-17} ready: [pickup] at 5€ ~ ^ | \\ ok';
    const req = request('+447700900010', body);
    expect(req.encoding).toBe('GSM-7');
    const out = await conn.submit(req);
    expect(out.kind).toBe('accepted');
    if (out.kind !== 'accepted') return;
    expect(out.carrierMessageIds).toHaveLength(1);
    const seen = sim.messages(req.to).at(-1)!;
    expect(seen).toMatchObject({ text: body, parts: 1, dataCoding: 0, parleyMessageId: req.messageId });
    const r = await eventually(async () =>
      receipts.find((x) => x.carrierMessageId === out.carrierMessageIds[0]),
    );
    expect(r).toMatchObject({ connectorId: 'smpp', recipient: req.to, messageState: 2 });
    expect(r.raw).toMatch(
      new RegExp(
        `^id:${out.carrierMessageIds[0]} sub:001 dlvrd:001 submit date:\\d{10} done date:\\d{10} stat:DELIVRD err:000 text:`,
      ),
    );
  });

  it('submits multipart GSM-7 by UDH concatenation; the SMSC reassembles it and receipts come per part', async () => {
    const body = ('Your parcel {#' + 'x'.repeat(20) + '} arrives tomorrow between 9 and 11. €€ ').repeat(6);
    const req = request('+447700900011', body);
    expect(req.encoding).toBe('GSM-7');
    expect(req.parts.length).toBeGreaterThanOrEqual(3);
    const out = await conn.submit(req);
    expect(out.kind).toBe('accepted');
    if (out.kind !== 'accepted') return;
    expect(out.carrierMessageIds).toHaveLength(req.parts.length);
    expect(new Set(out.carrierMessageIds).size).toBe(req.parts.length);
    const seen = sim.messages(req.to).at(-1)!;
    expect(seen).toMatchObject({ text: body, parts: req.parts.length, dataCoding: 0 });
    expect(seen.carrierMessageIds).toEqual(out.carrierMessageIds);
    await eventually(async () =>
      out.carrierMessageIds.every((id) =>
        receipts.some((r) => r.carrierMessageId === id && r.recipient === req.to),
      ),
    );
  });

  it('submits single and multipart UCS-2 (big-endian, surrogate pairs intact)', async () => {
    const short = request('+447700900012', 'Привет 😀 ваш заказ в пути');
    expect(short.encoding).toBe('UCS-2');
    expect((await conn.submit(short)).kind).toBe('accepted');
    expect(sim.messages(short.to).at(-1)).toMatchObject({ text: short.body, parts: 1, dataCoding: 8 });

    const long = request(
      '+447700900013',
      'Ваш заказ №4711 прибудет завтра 🚚📦 между 9 и 11 часами. Спасибо! '.repeat(3),
    );
    expect(long.encoding).toBe('UCS-2');
    expect(long.parts.length).toBeGreaterThan(1);
    const out = await conn.submit(long);
    expect(out).toMatchObject({ kind: 'accepted' });
    expect(sim.messages(long.to).at(-1)).toMatchObject({
      text: long.body,
      parts: long.parts.length,
      dataCoding: 8,
    });
  });

  it('maps a permanent refusal to failed with the SMPP code', async () => {
    expect(await conn.submit(request('+447999000900', 'hello'))).toMatchObject({
      kind: 'failed',
      code: 'ESME_RINVDSTADR',
    });
  });

  it('passes undelivered receipts with their message_state', async () => {
    const out = await conn.submit(request('+447998000001', 'bad luck'));
    if (out.kind !== 'accepted') throw new Error(JSON.stringify(out));
    const r = await eventually(async () =>
      receipts.find((x) => x.carrierMessageId === out.carrierMessageIds[0]),
    );
    expect(r.messageState).toBe(5);
    expect(r.raw).toContain('stat:UNDELIV');
  });

  it('delivers customer replies (MO) to onInbound, decoded and reassembled', async () => {
    await conn.submit(request('+447997000001', 'Your order ships today. Reply to ask.'));
    const m = await eventually(async () => inbound.find((x) => x.from === '+447997000001'));
    expect(m).toMatchObject({ connectorId: 'smpp', to: FROM, body: 'when will my order arrive?' });
    await conn.submit(request('+447996000002', 'Confirm delivery?'));
    const u = await eventually(async () => inbound.find((x) => x.from === '+447996000002'));
    expect(u.body).toBe(
      'Да, спасибо! Когда будет доставка? Я жду посылку уже третий день, напишите пожалуйста 😀',
    );
  });

  it('reports no submit_sm_resp within the timeout as unknown, never as retry', async () => {
    const started = Date.now();
    const out = await conn.submit(request('+15550001234', 'anyone there?'));
    expect(out).toMatchObject({ kind: 'unknown' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(sim.stats().no_response).toBeGreaterThan(0);
  });

  it('reports a connection lost after the PDU was written as unknown, then reconnects', async () => {
    const pending = conn.submit(request('+15550009999', 'into the void'));
    await new Promise((r) => setTimeout(r, 100));
    sim.applyScenario({ drop_connections: true });
    const out = await pending;
    expect(out).toMatchObject({ kind: 'unknown', reason: expect.stringMatching(/connection lost/) });
    await eventually(async () => conn.state().bindsUp === 2, 10_000);
    expect((await conn.submit(request('+447700900014', 'back again'))).kind).toBe('accepted');
  });

  it('answers ESME_RTHROTTLED over the cap with retry and backs off the bind', async () => {
    sim.applyScenario({ caps: { 'intl-delta': 5 } });
    sim.resetStats();
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        conn.submit(request(`+8190000${String(i).padStart(4, '0')}`, 'hi')),
      ),
    );
    const retries = outs.filter((o) => o.kind === 'retry');
    expect(outs.filter((o) => o.kind === 'accepted').length).toBeLessThanOrEqual(5);
    expect(retries.length).toBeGreaterThanOrEqual(15);
    expect(retries[0]).toMatchObject({ code: 'ESME_RTHROTTLED' });
    expect(conn.state().throttled).toBe(true);
    const s = sim.stats();
    expect(s.carriers['intl-delta']).toMatchObject({ cap: 5, throttled: retries.length });
    expect(s.carriers['intl-delta'].peak).toBeLessThanOrEqual(5);
    expect(s.carriers['intl-delta'].peak_offered).toBeGreaterThan(5);
  });

  it('holds the cap when the client respects it (submit_rate under the cap): no throttling', async () => {
    await new Promise((r) => setTimeout(r, 1_100));
    sim.resetStats();
    const polite = new SmppConnector(
      smppConfig(sim.smppPort, { id: 'polite', binds: 1, submit_rate: 4 }),
      tuning,
    );
    await polite.start();
    const outs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        polite.submit(request(`+8191000${String(i).padStart(4, '0')}`, 'hi')),
      ),
    );
    await polite.stop();
    expect(outs.every((o) => o.kind === 'accepted')).toBe(true);
    const c = sim.stats().carriers['intl-delta'];
    expect(c).toMatchObject({ segments: 10, throttled: 0 });
    expect(c.peak).toBeLessThanOrEqual(5);
    expect(sim.stats().duplicates).toBe(0);
  });

  it('throttles everything for a while on request, then recovers', async () => {
    sim.applyScenario({ throttle_all_seconds: 0.5 });
    const out = await conn.submit(request('+447700900015', 'wait'));
    expect(out).toMatchObject({ kind: 'retry', code: 'ESME_RTHROTTLED' });
    expect(out.kind === 'retry' && out.backoffMs).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 600));
    expect(
      (
        await eventually(async () => {
          const o = await conn.submit(request('+447700900016', 'go'));
          return o.kind === 'accepted' ? o : undefined;
        }, 5_000)
      ).kind,
    ).toBe('accepted');
  });

  it('takes a whole window refused at once as one throttle episode, not a growing pause', async () => {
    await new Promise((r) => setTimeout(r, 1_100)); // the previous test's pause and streak are over
    sim.applyScenario({ throttle_all_seconds: 0.3 });
    const outs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        conn.submit(request(`+4477009002${String(i).padStart(2, '0')}`, 'burst')),
      ),
    );
    expect(outs.every((o) => o.kind === 'retry')).toBe(true);
    // The first refusal pauses the bind for the initial backoff (100 ms ± 25%); the answers to the
    // submits already in flight must not stretch it towards the 1 s maximum.
    const longest = Math.max(...outs.map((o) => (o.kind === 'retry' ? (o.backoffMs ?? 0) : 0)));
    expect(longest).toBeLessThanOrEqual(250);
    await new Promise((r) => setTimeout(r, 400));
    await eventually(
      async () =>
        (await conn.submit(request('+447700900299', 'after'))).kind === 'accepted' ? true : undefined,
      5_000,
    );
  });

  it('counts the same Parley message id submitted twice as a duplicate', async () => {
    sim.resetStats();
    const req = request('+447700900017', 'twice');
    await conn.submit(req);
    await conn.submit(req);
    expect(sim.stats().duplicates).toBe(1);
  });
});

describe('carrier simulator journal and MO over HTTP (for a simulator in its own process)', () => {
  it('keeps every message and every counted submit when asked, and sends MO on POST /mo', async () => {
    const sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      journal: true,
      scenario: { seed: 7, receipt_delay_ms: { min: 5, max: 20 }, outcomes: { delivered: 1 } },
    });
    await sim.start();
    const conn = new SmppConnector(smppConfig(sim.smppPort, { binds: 1 }), tuning);
    const inbound: RawInbound[] = [];
    conn.onInbound((m) => void inbound.push(m));
    try {
      await conn.start();
      const reqs = [request('+447700900501', 'first'), request('+447700900502', 'second')];
      for (const r of reqs) expect((await conn.submit(r)).kind).toBe('accepted');
      const get = (q: string) =>
        fetch(`${sim.httpUrl}/journal${q}`).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as any,
        }));
      const all = await get('');
      expect(all.body).toMatchObject({ enabled: true, total: 2, from: 0 });
      expect(all.body.messages.map((m: { parleyMessageId: string }) => m.parleyMessageId)).toEqual(
        reqs.map((r) => r.messageId),
      );
      expect((await get('?from=1&limit=5')).body.messages).toHaveLength(1);
      const offers = await get('?kind=offers');
      expect(offers.body.offers).toHaveLength(2);
      expect(offers.body.offers[0]).toMatchObject({
        parleyMessageId: reqs[0].messageId,
        throttled: false,
        segments: 1,
      });
      expect(offers.body.offers[0].at).toBeGreaterThan(Date.now() - 60_000);
      expect((await get('?limit=0')).status).toBe(400);
      expect((await get('?from=-1')).body.error).toMatch(/^from:/);
      expect(sim.stats().event_loop.max_ms).toBeGreaterThanOrEqual(0);

      const post = (body: unknown) =>
        fetch(`${sim.httpUrl}/mo`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({
          status: r.status,
          body: (await r.json()) as { error?: string; id?: string },
        }));
      const missing = await post({ system_id: 'parley', from: '+447700900501', to: FROM });
      expect(missing.status).toBe(400);
      expect(missing.body.error).toMatch(/^text:/);
      const mo = await post({
        system_id: conn.config.system_id,
        from: '+447700900501',
        to: FROM,
        text: 'STOP',
      });
      expect(mo.status).toBe(202);
      const got = await eventually(async () => inbound.find((m) => m.from === '+447700900501'));
      expect(got).toMatchObject({ to: FROM, body: 'STOP' });
      sim.resetStats();
      expect((await get('')).body.total).toBe(0);
    } finally {
      await conn.stop();
      await sim.stop();
    }
  });

  it('says it keeps no journal when not asked to', async () => {
    const sim = new CarrierSimulator({ smppPort: 0, httpPort: 0 });
    await sim.start();
    try {
      const r = await fetch(`${sim.httpUrl}/journal`).then((x) => x.json());
      expect(r).toMatchObject({ enabled: false, total: 0, messages: [] });
    } finally {
      await sim.stop();
    }
  });
});

describe('SMPP connector: the SMSC drops its connections under load', () => {
  it('fails in-flight submits fast, keeps the event loop turning and binds again', async () => {
    const sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: { latency_ms: 300, receipt_delay_ms: 20, outcomes: { delivered: 1 } },
    });
    await sim.start();
    const conn = new SmppConnector(
      smppConfig(sim.smppPort, { binds: 2, window: 20, response_timeout_ms: 2_000 }),
      tuning,
    );
    // Counts submit_sm attempts on the binds. A submit that keeps retrying a bind whose connection
    // closed never yields to the event loop (no timer would end this test), so past a bound far
    // above any honest count the attempt throws and the submit rejects instead.
    let attempts = 0;
    for (const b of conn.binds) {
      const submit = b.submit.bind(b);
      b.submit = (fields, at) => {
        if (++attempts > 20_000) throw new Error('submit_sm attempted over 20,000 times: spinning');
        return submit(fields, at);
      };
    }
    let last = Date.now();
    let maxGapMs = 0;
    const beat = setInterval(() => {
      maxGapMs = Math.max(maxGapMs, Date.now() - last);
      last = Date.now();
    }, 10);
    try {
      await conn.start();
      await eventually(async () => conn.state().bindsUp === 2, 5_000);
      const n = 300;
      const pending = Array.from({ length: n }, (_, i) =>
        conn.submit(request(`+4477009${String(i).padStart(5, '0')}`, 'mid-flight')),
      );
      await new Promise((r) => setTimeout(r, 500));
      const acceptedBefore = sim.stats().accepted;
      expect(acceptedBefore).toBeGreaterThan(0);
      expect(acceptedBefore).toBeLessThan(n);
      const droppedAt = Date.now();
      sim.applyScenario({ drop_connections: true });
      const outs = await Promise.allSettled(pending);
      const settledMs = Date.now() - droppedAt;

      expect(outs.filter((o) => o.status === 'rejected')).toEqual([]);
      const kinds = outs.map((o) => (o.status === 'fulfilled' ? o.value.kind : 'rejected'));
      // Written and unanswered: unknown (never resent); waiting for a slot: retry; answered before
      // the drop (how many depends on the machine's load): accepted. Nothing failed.
      expect(kinds.every((k) => k === 'accepted' || k === 'unknown' || k === 'retry')).toBe(true);
      expect(kinds).toContain('unknown');
      expect(kinds).toContain('retry');
      const retries = outs.flatMap((o) =>
        o.status === 'fulfilled' && o.value.kind === 'retry' ? [o.value] : [],
      );
      expect(retries.every((r) => r.code === 'BIND_LOST' || r.code === 'NO_BIND')).toBe(true);
      expect(settledMs).toBeLessThan(2_000 + 1_000);
      expect(attempts).toBeLessThan(3 * n);
      expect(maxGapMs).toBeLessThan(1_000);

      await eventually(async () => conn.state().bindsUp === 2, 5_000);
      expect(sim.stats().binds).toBe(2);
      const again = await conn.submit(request('+447700900019', 'back'));
      expect(again.kind).toBe('accepted');
      expect(sim.stats().duplicates).toBe(0);
    } finally {
      clearInterval(beat);
      await conn.stop();
      await sim.stop();
    }
  });
});

describe('SMPP connector against a bare SMSC', () => {
  it('maps generic_nack to failed with its status', async () => {
    const server = smpp.createServer((session) => {
      session.on('bind_transceiver', (pdu) => session.send(pdu.response()));
      session.on('enquire_link', (pdu) => session.send(pdu.response()));
      session.on('submit_sm', (pdu) =>
        session.send(
          new smpp.PDU('generic_nack', { sequence_number: pdu.sequence_number, command_status: 0x02 }),
        ),
      );
      session.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const conn = new SmppConnector(smppConfig(port, { binds: 1 }), tuning);
    try {
      await conn.start();
      const out = await conn.submit(request('+447700900018', 'nack me'));
      expect(out).toMatchObject({
        kind: 'failed',
        code: 'ESME_RINVCMDLEN',
        reason: expect.stringMatching(/generic_nack/),
      });
    } finally {
      await conn.stop();
      for (const s of server.sessions) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('SMPP connector keep-alive', () => {
  it('drops a bind whose SMSC stops answering enquire_link, and binds again', async () => {
    let binds = 0;
    let enquires = 0;
    const server = smpp.createServer((session) => {
      session.on('bind_transceiver', (pdu) => {
        binds++;
        session.send(pdu.response());
      });
      // A hung SMSC: the TCP connection stays open, enquire_link is never answered.
      session.on('enquire_link', () => void enquires++);
      session.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const conn = new SmppConnector(
      smppConfig(port, { binds: 1, enquire_link_seconds: 1, response_timeout_ms: 500 }),
      tuning,
    );
    try {
      await conn.start();
      expect(conn.state().bindsUp).toBe(1);
      await eventually(async () => binds >= 2, 10_000);
      expect(enquires).toBeGreaterThanOrEqual(1);
      await eventually(async () => conn.state().bindsUp === 1, 5_000);
    } finally {
      await conn.stop();
      for (const s of server.sessions) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('ConnectorRegistry → Kafka', () => {
  let sim: CarrierSimulator;
  let app: INestApplicationContext;
  let consumer: Consumer;
  const records: { topic: string; key: string; value: any }[] = [];

  beforeAll(async () => {
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: {
        receipt_delay_ms: 20,
        outcomes: { delivered: 1 },
        rules: [{ prefix: '+4477003', reply: 'YES' }],
      },
    });
    await sim.start();
    const carriers: CarriersFile = defaultCarriersFile();
    carriers.connectors = carriers.connectors.map((c) =>
      c.kind === 'smpp' ? { ...c, port: sim.smppPort, binds: 1 } : { ...c, base_url: sim.httpUrl },
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-carriers-'));
    const file = path.join(dir, 'carriers.json');
    writeFileSync(file, JSON.stringify(carriers));
    const env = testEnv({ PARLEY_CARRIERS_FILE: file, PARLEY_ROLES: 'dispatcher' });
    const logger = new AppLogger(createPino(env.PARLEY_LOG_LEVEL));
    app = await NestFactory.createApplicationContext(
      {
        module: class RegistryTestModule {},
        imports: [
          ConfigModule.forRoot(env),
          LoggingModule.forRoot(logger),
          MetricsModule,
          KafkaModule,
          ConnectorsModule,
        ],
      },
      { logger: false, abortOnError: false },
    );
    await app.init();
    const kafka = app.get(KafkaService);
    await kafka.topicsReady;
    const config = app.get(ConfigService);
    consumer = kafka.kafka.consumer({
      groupId: `${env.KAFKA_TOPIC_PREFIX}registry-test`,
      maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    await consumer.subscribe({
      topics: [config.topic('sms.receipts'), config.topic('sms.inbound')],
      fromBeginning: true,
    });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        records.push({ topic, key: String(message.key), value: JSON.parse(String(message.value)) });
      },
    });
  });

  afterAll(async () => {
    await consumer?.disconnect();
    await app?.close();
    await sim?.stop();
  });

  it('builds every connector of the carriers file and starts them on request', async () => {
    const registry = app.get(ConnectorRegistry);
    expect(registry.all().map((c) => [c.id, c.kind])).toEqual([
      ['smpp', 'smpp'],
      ['twilio', 'twilio'],
    ]);
    expect(registry.get('smpp').state().bindsUp).toBe(0);
    expect(() => registry.get('nope')).toThrow(/unknown connector/);
    await registry.startAll();
    expect(registry.get('smpp').state().bindsUp).toBe(1);
  });

  it('puts receipts on sms.receipts keyed by recipient and replies on sms.inbound keyed by the customer', async () => {
    const registry = app.get(ConnectorRegistry);
    const to = '+447700300001';
    const out = await registry.get('smpp').submit(request(to, 'Will you be home?'));
    if (out.kind !== 'accepted') throw new Error(JSON.stringify(out));
    const receipt = await eventually(
      async () =>
        records.find(
          (r) => r.topic.endsWith('sms.receipts') && r.value.carrierMessageId === out.carrierMessageIds[0],
        ),
      30_000,
    );
    expect(receipt.key).toBe(to);
    expect(receipt.value).toMatchObject({ connectorId: 'smpp', recipient: to, messageState: 2 });
    expect(receipt.value.raw).toContain('stat:DELIVRD');
    const reply = await eventually(
      async () => records.find((r) => r.topic.endsWith('sms.inbound') && r.value.from === to),
      30_000,
    );
    expect(reply.key).toBe(to);
    expect(reply.value).toMatchObject({ connectorId: 'smpp', to: FROM, body: 'YES' });
    expect(reply.value.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('simulator HTTP: control API and Twilio-style provider', () => {
  let sim: CarrierSimulator;
  let hookUrl: string;
  let closeHook: () => Promise<void>;
  const posts: { url: string; signature: string; params: Record<string, string> }[] = [];
  const sid = 'AC00000000000000000000000000000000';
  const token = process.env.TWILIO_AUTH_TOKEN || 'dev-auth-token';
  const auth = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

  beforeAll(async () => {
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        posts.push({
          url: `${hookUrl}${req.url!.replace(/^\//, '')}`,
          signature: String(req.headers['x-twilio-signature']),
          params: Object.fromEntries(new URLSearchParams(body)),
        });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`;
    closeHook = () => new Promise((r) => hook.close(() => r()));
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      scenario: {
        receipt_delay_ms: 30,
        outcomes: { delivered: 1 },
        inbound_webhook_url: `${hookUrl}inbound`,
        rules: [
          { prefix: '+447995', reply: 'STOP' },
          { prefix: '+447994', outcome: 'undelivered' },
        ],
      },
    });
    await sim.start();
  });

  afterAll(async () => {
    await sim?.stop();
    await closeHook?.();
  });

  const send = (form: Record<string, string>, authorization = auth(sid, token)) =>
    fetch(`${sim.httpUrl}/2010-04-01/Accounts/${sid}/Messages.json`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });

  it('refuses a wrong token with 401 and a missing To with 400', async () => {
    const r = await send({ To: '+447700900001', From: '+18885550199', Body: 'x' }, auth(sid, 'wrong'));
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ code: 20003 });
    const r2 = await send({ From: '+18885550199', Body: 'x' });
    expect(r2.status).toBe(400);
    expect(await r2.json()).toMatchObject({ code: 21604 });
  });

  it('queues a message, then posts signed status callbacks: sent, delivered', async () => {
    const callback = `${hookUrl}status?message_id=m-1`;
    const r = await send({
      To: '+447700900001',
      From: '+18885550199',
      Body: 'Parcel today',
      StatusCallback: callback,
    });
    expect(r.status).toBe(201);
    const body: any = await r.json();
    expect(body).toMatchObject({ status: 'queued', to: '+447700900001', num_segments: '1' });
    expect(body.sid).toMatch(/^SM[0-9a-f]{32}$/);
    await eventually(async () => posts.filter((p) => p.params.MessageSid === body.sid).length === 2);
    const mine = posts.filter((p) => p.params.MessageSid === body.sid);
    expect(mine.map((p) => p.params.MessageStatus)).toEqual(['sent', 'delivered']);
    for (const p of mine) {
      expect(p.url).toBe(callback);
      expect(p.signature).toBe(twilioSignature(token, callback, p.params));
    }
    expect(mine[1].params).toMatchObject({ To: '+447700900001', From: '+18885550199', AccountSid: sid });
  });

  it('reports undelivered with an error code, and counts a message id seen twice', async () => {
    sim.resetStats();
    const callback = `${hookUrl}status?message_id=m-2`;
    const form = { To: '+447994000001', From: '+18885550199', Body: 'x', StatusCallback: callback };
    const r = await send(form);
    const { sid: messageSid } = (await r.json()) as any;
    await send(form);
    expect(sim.stats().duplicates).toBe(1);
    const final = await eventually(async () =>
      posts.find((p) => p.params.MessageSid === messageSid && p.params.MessageStatus !== 'sent'),
    );
    expect(final.params).toMatchObject({ MessageStatus: 'undelivered', ErrorCode: '30003' });
  });

  it('posts customer replies, signed, to the inbound webhook', async () => {
    await send({ To: '+447995000001', From: '+18885550199', Body: 'Promo!' });
    const inbound = await eventually(async () => posts.find((p) => p.params.From === '+447995000001'));
    expect(inbound.url).toBe(`${hookUrl}inbound`);
    expect(inbound.params).toMatchObject({ To: '+18885550199', Body: 'STOP', AccountSid: sid });
    expect(inbound.signature).toBe(twilioSignature(token, inbound.url, inbound.params));
  });

  it('shares carrier caps with SMPP, throttles on request, shows stats and resets them', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${sim.httpUrl}${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
    await post('/scenario', { throttle_all_seconds: 1 });
    const r = await send({ To: '+447700900002', From: '+18885550199', Body: 'x' });
    expect(r.status).toBe(429);
    expect(await r.json()).toMatchObject({ code: 20429 });
    await post('/scenario', { throttle_all_seconds: 0, caps: { 'eu-gamma': 3 } });
    await post('/reset', {});
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      // A 2-segment message spends two of the three segments a second.
      const body = 'y'.repeat(200);
      statuses.push((await send({ To: `+44770090010${i}`, From: '+18885550199', Body: body })).status);
    }
    expect(statuses).toEqual([201, 429, 429]);
    const stats: any = await fetch(`${sim.httpUrl}/stats`).then((x) => x.json());
    expect(stats.carriers['eu-gamma']).toMatchObject({ cap: 3, segments: 2, peak: 2, throttled: 2 });
    expect(stats).toMatchObject({ submits: 3, accepted: 1, throttled: 2 });
  });
});
