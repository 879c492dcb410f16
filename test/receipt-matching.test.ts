// Every receipt on its own message, and no poisoned record stalls a consumer, against the real
// stack and the carrier simulator: an SMSC numbering its messages 1, 2, 3 in decimal; one that
// restarts its counter while the first batch's receipts are still on their way; each declared id
// format (and receipts in the other form failing to match when the connector is not declared so);
// a receipt for a final part kept as unapplied with its reason; a NUL-bearing MO (SMPP and a raw
// record) and a malformed record ahead of a STOP on the same partition; a stalled consumer turning
// readiness red.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { KafkaService } from '../src/infra/kafka/kafka.service';
import { CarriersFile, defaultCarriersFile } from '../src/modules/carriers/carriers.config';
import { CarrierSimulator } from '../src/simulator/carrier-simulator';
import type { ReceiptOutcome } from '../src/simulator/receipt-text';
import { receiptText } from '../src/simulator/receipt-text';
import { OptOutLedger } from '../src/modules/consent/opt-out-ledger.service';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';
import { TEST_DATABASE_URL } from './support/env';

const HEXDEC = '+14155550201';
const DECHEX = '+14155550202';

let sim: CarrierSimulator;
let engine: TestEngine;
let api: ApiClient;
let db: Db;

function carriers(smppPort: number): CarriersFile {
  const file = defaultCarriersFile();
  const smpp = file.connectors.find((c) => c.kind === 'smpp')!;
  file.connectors = file.connectors.map((c) => (c.kind === 'smpp' ? { ...c, port: smppPort } : c));
  // One SMSC account per connector, so each one's receipts come back on its own binds.
  file.connectors.push(
    {
      ...smpp,
      port: smppPort,
      id: 'smpp-hexdec',
      system_id: 'hexdec',
      binds: 1,
      receipt_id_format: 'resp_hex_receipt_dec',
    },
    {
      ...smpp,
      port: smppPort,
      id: 'smpp-dechex',
      system_id: 'dechex',
      binds: 1,
      receipt_id_format: 'resp_dec_receipt_hex',
    },
  );
  file.carriers = file.carriers.map((c) => ({ ...c, segments_per_second: 3_000 }));
  file.senders = [
    ...file.senders.map((s) => ({ ...s, segments_per_second: 3_000 })),
    {
      address: HEXDEC,
      kind: 'long_code',
      segments_per_second: 3_000,
      connector: 'smpp-hexdec',
      workspaces: [],
      smart_encoding: false,
    },
    {
      address: DECHEX,
      kind: 'long_code',
      segments_per_second: 3_000,
      connector: 'smpp-dechex',
      workspaces: [],
      smart_encoding: false,
    },
  ];
  return file;
}

beforeAll(async () => {
  // The simulator reads the same carriers file once it knows its port: start it on a free port
  // with a placeholder, then build the file for that port.
  sim = new CarrierSimulator({
    smppPort: 0,
    httpPort: 0,
    journal: true,
    carriers: carriers(2775),
    scenario: {
      message_ids: 'decimal',
      outcomes: { delivered: 0.7, undelivered: 0.15, expired: 0.1, rejected: 0.05 },
      receipt_delay_ms: { min: 20, max: 400 },
    },
  });
  await sim.start();
  const file = path.join(os.tmpdir(), `parley-receipt-matching-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(carriers(sim.smppPort)));
  engine = await startEngine({
    PARLEY_CARRIERS_FILE: file,
    PARLEY_RECEIPT_PARK_SECONDS: '3',
    PARLEY_CONSUMER_STALL_SECONDS: '2',
  });
  api = await engine.workspace();
  db = engine.app.get<Db>(DB);
  await engine.app.get(KafkaService).topicsReady;
}, 120_000);
afterAll(async () => {
  await engine?.close();
  await sim?.stop();
});

const STATUS_OF: Record<ReceiptOutcome, string> = {
  delivered: 'delivered',
  undelivered: 'undelivered',
  expired: 'expired',
  rejected: 'rejected',
};

// Numbers of earlier runs stay in the test database: each run starts its blocks elsewhere.
let block = Math.floor(Math.random() * 700);
/** `n` distinct valid numbers, a block of its own per call. */
function numbers(n: number): string[] {
  const b = block++;
  return Array.from(
    { length: n },
    (_, i) =>
      `+1415${2 + (Math.floor(b / 100) % 8)}${String(b % 100).padStart(2, '0')}${String(i).padStart(4, '0')}`,
  );
}

async function send(to: string[], from?: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < to.length; i += 1_000) {
    const r = await api.post('/v1/messages/batch', {
      messages: to
        .slice(i, i + 1_000)
        .map((t, j) => ({ to: t, body: `Parcel ${i + j} ships today`, ...(from ? { from } : {}) })),
    });
    expect(r.status).toBe(200);
    for (const x of r.body.results) {
      expect(x.status).toBe('accepted');
      ids.push(x.id);
    }
  }
  return ids;
}

async function statuses(ids: string[]): Promise<Map<string, { status: string; carrier_ids: string[] }>> {
  const r = await sql<{ id: string; status: string; carrier_ids: string[] | null }>`
    select m.id, m.status, array_agg(p.carrier_message_id order by p.part_index) filter (where p.message_id is not null) as carrier_ids
    from messages m left join message_parts p on p.message_id = m.id
    where m.id = any(${ids}::uuid[]) group by m.id, m.status`.execute(db);
  return new Map(r.rows.map((x) => [x.id, { status: x.status, carrier_ids: x.carrier_ids ?? [] }]));
}

const OPEN = new Set(['accepted', 'queued', 'submitting', 'submitted', 'sent']);

async function allFinal(ids: string[], timeoutMs = 60_000) {
  return eventually(
    async () => {
      const s = await statuses(ids);
      return s.size === ids.length && [...s.values()].every((m) => !OPEN.has(m.status)) ? s : undefined;
    },
    timeoutMs,
    250,
  );
}

/** Waits until the SMSC has answered every one (their parts are stored): the scenario may change then. */
async function allTaken(ids: string[], timeoutMs = 30_000) {
  await eventually(
    async () => {
      const s = await statuses(ids);
      return (s.size === ids.length && [...s.values()].every((m) => m.carrier_ids.length >= 1)) || undefined;
    },
    timeoutMs,
    100,
  );
}

/** What the simulator decided for each message it took, by Parley id. */
function journalOutcomes(): Map<string, { outcome: ReceiptOutcome; ids: string[] }> {
  const out = new Map<string, { outcome: ReceiptOutcome; ids: string[] }>();
  for (const m of sim.journal(0, 1_000_000).messages)
    if (m.parleyMessageId) out.set(m.parleyMessageId, { outcome: m.outcomes![0], ids: m.carrierMessageIds });
  return out;
}

function expectOwnOutcomes(ids: string[], got: Map<string, { status: string; carrier_ids: string[] }>) {
  const journal = journalOutcomes();
  const wrong: string[] = [];
  for (const id of ids) {
    const j = journal.get(id);
    const m = got.get(id);
    if (!j || !m || m.status !== STATUS_OF[j.outcome] || m.carrier_ids.join() !== j.ids.join())
      wrong.push(`${id}: ${m?.status} ${m?.carrier_ids} vs ${j?.outcome} ${j?.ids}`);
  }
  expect(wrong.slice(0, 5)).toEqual([]);
  expect(wrong.length).toBe(0);
}

describe('receipts on an SMSC that numbers in decimal', () => {
  it('applies 3,000 receipts with ids 1, 2, 3, … each to its own message, none left open', async () => {
    sim.applyScenario({
      restart_ids: true,
      message_ids: 'decimal',
      receipt_ids: 'as_resp',
      receipt_tlv: 'resp',
    });
    const ids = await send(numbers(3_000));
    const got = await allFinal(ids, 90_000);
    expectOwnOutcomes(ids, got);
    // The ids really were the small decimals that collide with other messages' ids read as hex.
    const carrierIds = [...got.values()].map((m) => Number(m.carrier_ids[0]));
    expect(Math.min(...carrierIds)).toBe(1);
    expect(Math.max(...carrierIds)).toBe(3_000);
    expect(sim.stats().duplicates).toBe(0);
  }, 120_000);

  it('survives a counter restart while the first batch still waits for its receipts', async () => {
    // The first batch's receipts take a few seconds; the SMSC restarts once it has taken them all,
    // so the second batch gets the same ids 1..1,000 while the first batch's parts are still open.
    sim.applyScenario({ restart_ids: true, receipt_delay_ms: { min: 3_000, max: 4_000 } });
    const first = await send(numbers(1_000));
    await allTaken(first);
    sim.applyScenario({ restart_ids: true, receipt_delay_ms: { min: 20, max: 300 } });
    const second = await send(numbers(1_000));
    const got = await allFinal([...first, ...second], 90_000);
    // Both batches used the same carrier ids…
    const firstIds = new Set(first.map((id) => got.get(id)!.carrier_ids[0]));
    expect(second.filter((id) => firstIds.has(got.get(id)!.carrier_ids[0])).length).toBeGreaterThan(900);
    // …and every message has its own outcome.
    expectOwnOutcomes([...first, ...second], got);
  }, 150_000);

  it('matches each declared id format, and receipts in the other form never match an undeclared connector', async () => {
    try {
      await formats();
    } finally {
      sim.applyScenario({ message_ids: 'decimal', receipt_ids: 'as_resp', receipt_tlv: 'resp' });
    }
  }, 180_000);

  async function formats() {
    const since = new Date();
    sim.applyScenario({ receipt_delay_ms: { min: 20, max: 200 }, receipt_tlv: 'none' });
    // as_is: decimal answers and decimal receipts (ids from 2,001, so none reads as another's hex).
    sim.applyScenario({ restart_ids: 2_001, message_ids: 'decimal', receipt_ids: 'as_resp' });
    const asIs = await send(numbers(200));
    expectOwnOutcomes(asIs, await allFinal(asIs));
    const asIsWrong = await send(numbers(50), HEXDEC);
    await allTaken(asIsWrong);
    // resp_hex_receipt_dec: hex answers, decimal receipts.
    sim.applyScenario({ message_ids: 'hex', receipt_ids: 'decimal' });
    const hexdec = await send(numbers(200), HEXDEC);
    expectOwnOutcomes(hexdec, await allFinal(hexdec));
    const hexdecWrong = await send(numbers(50));
    await allTaken(hexdecWrong);
    // resp_dec_receipt_hex: decimal answers, hex receipts.
    sim.applyScenario({ restart_ids: 2_001, message_ids: 'decimal', receipt_ids: 'hex' });
    const dechex = await send(numbers(200), DECHEX);
    expectOwnOutcomes(dechex, await allFinal(dechex));
    const dechexWrong = await send(numbers(50), HEXDEC);
    await allTaken(dechexWrong);

    // The wrongly declared ones were taken by the SMSC, their receipts came, and matched nothing:
    // they stay submitted, and the receipts end as unapplied `no_match` once their park time is over.
    const wrong = [...asIsWrong, ...hexdecWrong, ...dechexWrong];
    // (A hex id with letters cannot be a decimal one at all: `no_id` at once, never parked.)
    const kept = await eventually(
      async () => {
        const r = await sql<{ reason: string; n: number }>`
          select reason, count(*)::int as n from unapplied_receipts
          where connector_id in ('smpp', 'smpp-hexdec') and received_at >= ${since}
          group by reason`.execute(db);
        const n = (reason: string) => r.rows.find((x) => x.reason === reason)?.n ?? 0;
        return n('no_match') + n('no_id') >= wrong.length
          ? { noMatch: n('no_match'), noId: n('no_id') }
          : undefined;
      },
      60_000,
      500,
    );
    expect(kept.noMatch + kept.noId).toBe(wrong.length);
    expect(kept.noMatch).toBeGreaterThan(0);
    const after = await statuses(wrong);
    expect([...after.entries()].filter(([, m]) => m.status !== 'submitted')).toEqual([]);
    const metrics = (await api.get('/metrics')).text;
    expect(metrics).toMatch(
      /parley_receipts_unmatched_total\{connector="smpp-hexdec",reason="no_match"\} [1-9]/,
    );
  }

  it('keeps a receipt for a part already final as unapplied (no_open_part), never reopening it', async () => {
    const [id] = await send(numbers(1));
    const got = await allFinal([id]);
    const m = got.get(id)!;
    const to = (await api.get(`/v1/messages/${id}`)).body.to as string;
    // The same id's receipt again, saying something else.
    const other: ReceiptOutcome = m.status === 'delivered' ? 'undelivered' : 'delivered';
    const raw = receiptText({
      id: m.carrier_ids[0],
      outcome: other,
      submittedAt: new Date(),
      doneAt: new Date(),
    });
    await engine.app.get(KafkaService).produce('sms.receipts', [
      {
        key: to,
        value: JSON.stringify({
          connectorId: 'smpp',
          carrierMessageId: m.carrier_ids[0],
          recipient: to,
          raw,
          receivedAt: Date.now(),
        }),
      },
    ]);
    const row = await eventually(
      async () => {
        const r = await sql<{ reason: string; message_id: string | null }>`
          select reason, message_id from unapplied_receipts where raw = ${raw}`.execute(db);
        return r.rows[0];
      },
      30_000,
      250,
    );
    expect(row).toEqual({ reason: 'no_open_part', message_id: id });
    expect((await statuses([id])).get(id)!.status).toBe(m.status);
    // The message shows it, beside its unchanged outcome.
    const shown = (await api.get(`/v1/messages/${id}`)).body;
    expect(shown.status).toBe(m.status);
    expect(shown.receipts_not_applied).toEqual([expect.objectContaining({ reason: 'no_open_part', raw })]);
  }, 60_000);
});

describe('poisoned inbound records', () => {
  async function dlqRecords(
    topic: string,
    since: number,
  ): Promise<{ reason: string; record: string | null }[]> {
    const kafka = new Kafka({ brokers: engine.env.KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `dlq-reader-${randomBytes(4).toString('hex')}` });
    const out: { reason: string; record: string | null }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: engine.env.KAFKA_TOPIC_PREFIX + topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (Number(message.timestamp) >= since) out.push(JSON.parse(message.value!.toString()));
      },
    });
    await new Promise((r) => setTimeout(r, 3_000));
    await consumer.disconnect();
    return out;
  }

  it('dead-letters a malformed record and keeps a NUL-bearing MO, and the STOP behind them is applied within a second', async () => {
    const customer = numbers(1)[0];
    const sender = '+14155550100';
    // The customer got a message from us, so their STOP is this workspace's.
    const [first] = await send([customer], sender);
    await allFinal([first]);
    const since = Date.now();
    const kafka = engine.app.get(KafkaService);
    const env = (body: string, n: number) =>
      JSON.stringify({
        id: `00000000-0000-4000-8000-${randomBytes(6).toString('hex')}`,
        connectorId: 'smpp',
        from: customer,
        to: sender,
        body,
        receivedAt: Date.now() + n,
      });
    const sent = Date.now();
    // All keyed by the customer: one partition, in this order.
    await kafka.produce('sms.inbound', [
      { key: customer, value: '{"not": json' },
      { key: customer, value: env('where is my parcel\u0000\u0000 \ud800', 1) },
      { key: customer, value: env('STOP', 2) },
    ]);
    const ledger = engine.app.get(OptOutLedger);
    await eventually(
      async () => (await ledger.suppressedAmong(api.workspaceId, [customer], sender)).has(customer),
      5_000,
      20,
    );
    expect(Date.now() - sent).toBeLessThan(1_000 + 200);
    const kept = await sql<{ body: string; body_raw: string | null }>`
      select body, body_raw from inbound_messages
       where workspace_id = ${api.workspaceId} and from_e164 = ${customer} and body like 'where is my parcel%'`.execute(
      db,
    );
    expect(kept.rows).toEqual([
      { body: 'where is my parcel\ufffd\ufffd \ufffd', body_raw: 'where is my parcel\\u0000\\u0000 \\ud800' },
    ]);
    const dead = await dlqRecords('sms.inbound.dlq', since);
    expect(dead).toEqual([expect.objectContaining({ reason: 'not JSON', record: '{"not": json' })]);
  }, 60_000);

  it('takes an SMPP MO carrying NUL and answers it like any other', async () => {
    const customer = numbers(1)[0];
    const [first] = await send([customer], '+14155550100');
    await allFinal([first]);
    sim.sendMo('parley', { from: customer, to: '+14155550100', text: 'STOP\u0000please' });
    const row = await eventually(async () => {
      const r = await sql<{ body: string; body_raw: string | null; intent: string }>`
        select body, body_raw, intent from inbound_messages
         where workspace_id = ${api.workspaceId} and from_e164 = ${customer}`.execute(db);
      return r.rows[0];
    }, 20_000);
    expect(row.body).toBe('STOP\ufffdplease');
    expect(row.body_raw).toBe('STOP\\u0000please');
  }, 60_000);
});

describe('readiness', () => {
  it('turns red naming the group and partition while a consumer cannot commit, and green again after', async () => {
    expect((await api.get('/health/ready')).status).toBe(200);
    // Hold the router's table: its next batch waits on the lock, records pile up, nothing commits.
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query('begin');
    await client.query('lock table inbound_messages in access exclusive mode');
    try {
      const customer = numbers(1)[0];
      await engine.app.get(KafkaService).produce('sms.inbound', [
        {
          key: customer,
          value: JSON.stringify({
            id: `00000000-0000-4000-8000-${randomBytes(6).toString('hex')}`,
            connectorId: 'smpp',
            from: customer,
            to: '+14155550100',
            body: 'hello',
            receivedAt: Date.now(),
          }),
        },
      ]);
      const red = await eventually(
        async () => {
          const r = await api.get('/health/ready');
          return r.status === 503 ? r.body : undefined;
        },
        30_000,
        250,
      );
      expect(red.down).toContain('consumers');
      expect(red.checks.consumers.stalled).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            group: expect.stringMatching(/parley-router$/),
            partition: expect.any(Number),
          }),
        ]),
      );
      // The gauge follows at the next lag measurement.
      await eventually(
        async () =>
          /parley_consumer_stalled\{group="[^"]*parley-router",topic="[^"]*sms.inbound",partition="\d+"\} 1/.test(
            (await api.get('/metrics')).text,
          ),
        10_000,
        250,
      );
    } finally {
      await client.query('rollback');
      await client.end();
    }
    await eventually(async () => (await api.get('/health/ready')).status === 200, 30_000, 250);
  }, 90_000);
});
