// Never silent loss of a customer's STOP: an MO deliver_sm is acknowledged to the SMSC only once
// Kafka holds it. Here, on a cluster of the file's own (three brokers, replication factor 3), the
// leadership of some sms.inbound partitions moves to other brokers (as when a broker stops; moved
// here by a reassignment, so it happens at a known moment) right before a burst of STOP MOs that
// covers every partition. The old leader refuses its share (not leader); the new leaders had taken
// their own share of the same batch, and kafkajs (2.2.4) then resolved the batch without ever
// sending the moved partitions' records: the connector answered those MOs ESME_ROK and they were
// gone (chaos e, "opt-outs committed 39/40"). Every STOP must end as exactly one inbound row and
// one opt-out: a produce Kafka did not fully acknowledge is answered with an error, the simulator
// offers the MO again, and the copies that did reach Kafka are stored once.
import { Kafka, Partitioners, PartitionMetadata, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, Db } from '../src/infra/db/db';
import { ApiClient, eventually } from './support/engine';
import { TEST_DATABASE_URL } from './support/env';
import { KafkaCluster, startKafkaCluster } from './support/kafka-cluster';
import { SimulatedEngine, startSimulatedEngine } from './support/simulated';

// Not the chaos suite's 19092 nor the shared 9092.
const BASE_PORT = 19392;
const BROKERS = [1, 2, 3];
const PARTITIONS = 6;
const SENDER = '+14155550100';

let cluster: KafkaCluster;
let stack: SimulatedEngine;
let api: ApiClient;
let db: Db;
const run = String(Math.floor(Math.random() * 700) + 200);

/** `perPartition` numbers on each partition of a topic of PARTITIONS partitions, as the engine's producer places them. */
function numbersCoveringPartitions(perPartition: number, offset: number): string[][] {
  const place = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from(
    { length: PARTITIONS },
    (_, i) => ({ partitionId: i, leader: 1 }) as PartitionMetadata,
  );
  const byPartition: string[][] = Array.from({ length: PARTITIONS }, () => []);
  for (let i = offset; byPartition.some((l) => l.length < perPartition); i++) {
    const n = `+1312${run}${String(i).padStart(4, '0')}`;
    const p = place({ topic: 'sms.inbound', partitionMetadata, message: { key: n, value: '' } });
    if (byPartition[p].length < perPartition) byPartition[p].push(n);
  }
  return byPartition;
}

async function importContacts(numbers: string[]) {
  const aud = await api.post('/v1/audiences', { name: `leader-change-${run}` });
  const imp = await api.request(
    'POST',
    `/v1/audiences/${aud.body.id}/imports`,
    `phone\n${numbers.join('\n')}\n`,
    {
      'content-type': 'text/csv',
    },
  );
  await eventually(
    async () => (await api.get(`/v1/imports/${imp.body.id}`)).body.status === 'completed',
    30_000,
  );
}

/** Per number: inbound rows stored and opt-outs committed in the test's workspace. */
async function storedFor(numbers: string[]): Promise<Map<string, { inbound: number; optOuts: number }>> {
  const inbound = await sql<{ e164: string; n: number }>`
    select from_e164 as e164, count(*)::int as n from inbound_messages
     where workspace_id = ${api.workspaceId} and from_e164 = any(${numbers}::text[]) group by 1`.execute(db);
  const optOuts = await sql<{ e164: string; n: number }>`
    select e164, count(*)::int as n from consent_events
     where workspace_id = ${api.workspaceId} and kind = 'opt_out' and e164 = any(${numbers}::text[]) group by 1`.execute(
    db,
  );
  const out = new Map(numbers.map((n) => [n, { inbound: 0, optOuts: 0 }]));
  for (const r of inbound.rows) out.get(r.e164)!.inbound = r.n;
  for (const r of optOuts.rows) out.get(r.e164)!.optOuts = r.n;
  return out;
}

/** Moves the partitions `leader` leads to the other brokers and waits until they have new leaders. */
async function moveLeadershipAway(topic: string, leader: number): Promise<number[]> {
  const kafka = new Kafka({
    clientId: 'mo-leader-change-test',
    brokers: cluster.brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const leaders = async () =>
      new Map(
        (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.map((p) => [
          p.partitionId,
          p.leader,
        ]),
      );
    const moved = [...(await leaders())].filter(([, l]) => l === leader).map(([p]) => p);
    const replicas = BROKERS.filter((b) => b !== leader);
    await admin.alterPartitionReassignments({
      topics: [{ topic, partitionAssignment: moved.map((partition) => ({ partition, replicas })) }],
    });
    await eventually(
      async () => {
        const now = await leaders();
        return moved.every((p) => now.get(p) !== leader && now.get(p)! >= 0);
      },
      30_000,
      100,
    );
    return moved;
  } finally {
    await admin.disconnect();
  }
}

const allOnce = (m: Map<string, { inbound: number; optOuts: number }>) =>
  [...m.values()].every((v) => v.inbound === 1 && v.optOuts === 1);

beforeAll(async () => {
  cluster = await startKafkaCluster(BASE_PORT, 3);
  stack = await startSimulatedEngine({
    scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 20 },
    env: {
      KAFKA_BROKERS: cluster.brokers,
      KAFKA_REPLICATION_FACTOR: '3',
      KAFKA_PARTITIONS: String(PARTITIONS),
    },
  });
  api = await stack.engine.workspace();
  db = createDb(TEST_DATABASE_URL, 2);
}, 240_000);

afterAll(async () => {
  await stack?.close();
  await db?.destroy();
  await cluster?.down();
}, 120_000);

describe('STOP MOs while partition leaders move', () => {
  it('turns every STOP into exactly one inbound row and one opt-out', async () => {
    const warmUp = numbersCoveringPartitions(1, 0).flat();
    const burst = numbersCoveringPartitions(2, 5_000).flat();
    await importContacts([...warmUp, ...burst]);

    // The engine's producer knows every partition's leader and holds a connection to each broker.
    for (const from of warmUp) stack.sim.sendMo('parley', { from, to: SENDER, text: 'STOP' });
    // A cluster this fresh can take a while to settle its consumer groups on a busy machine.
    await eventually(async () => allOnce(await storedFor(warmUp)), 90_000, 200);
    // Their confirmations and receipts have left too: the burst is the first produce after the stop.
    await eventually(async () => warmUp.every((n) => stack.sim.messages(n).length > 0), 30_000, 100);
    await eventually(async () => stack.sim.stats().receipts_pending === 0, 10_000, 50);
    await new Promise((r) => setTimeout(r, 1_000));

    const topic = `${stack.engine.env.KAFKA_TOPIC_PREFIX}sms.inbound`;
    const moved = await moveLeadershipAway(topic, 2);
    expect(moved.length).toBeGreaterThan(0);
    // One burst: the connector produces these MOs as one batch, with the engine's producer still
    // holding the old leaders (its metadata is refreshed only when a broker refuses).
    for (const from of burst) stack.sim.sendMo('parley', { from, to: SENDER, text: 'STOP' });

    let last = new Map<string, { inbound: number; optOuts: number }>();
    await eventually(
      async () => {
        last = await storedFor(burst);
        return allOnce(last);
      },
      45_000,
      250,
    ).catch(() => undefined);
    expect(Object.fromEntries([...last].filter(([, v]) => v.inbound !== 1 || v.optOuts !== 1))).toEqual({});
    // Nothing is left at the simulator: every MO was answered ESME_ROK in the end.
    expect(stack.sim.stats().deliveries_waiting).toBe(0);
  }, 180_000);
});
