// Reply-router benchmark (issue 7). Numbers first get an outbound message through the API (so
// replies match a thread), then inbound envelopes (InboundEnvelope) are produced straight to
// sms.inbound keyed by the customer's number, paced at the target rate (2,000/s), a mix of STOP,
// YES, order questions and free text. Measured: inbound rows stored per second (inbound_messages)
// and, per STOP, inbound received → opt-out committed (consent_events.recorded_at − occurred_at,
// occurred_at being the envelope's receivedAt), plus the router's own histogram from /metrics.
// A three-second warm-up of the same mix at the same rate, from other numbers, comes first and is
// not measured; the measured part starts once the warm-up's follow-ups are done.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/replies/bench.js [--full | --n 20000] [--rate 2000]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { sql } from 'kysely';
import type { InboundEnvelope } from '../../src/modules/carriers/inbound-envelope';
import {
  Api,
  DEFAULT_BROKERS,
  ResultRow,
  SENDER,
  TERMINAL,
  benchCarriers,
  benchDb,
  createWorkspace,
  fmt,
  log,
  now,
  numberAt,
  pct,
  sendBatches,
  sizeOf,
  sleep,
  spawnEngine,
  startSim,
  topicPrefix,
  waitAllTerminal,
  waitFor,
  watchdog,
} from '../lib/harness';
import { SIZE_OPTIONS, allDelivered, failedRow, runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({
  options: { ...SIZE_OPTIONS, rate: { type: 'string', default: '2000' } },
});
const N = sizeOf(values, 20_000, 200_000);
const RATE = Number(values.rate);
const NUMBERS = Math.max(100, Math.floor(N / 4));
const WARM_SECONDS = 3;
const WARM_NUMBERS = 1_500;
const SIZE = `${fmt(N)} inbound`;
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog((values.full ? 60 : 12) * 60_000);

const MIX: { weight: number; texts: string[] }[] = [
  { weight: 0.1, texts: ['STOP', 'stop', 'Unsubscribe', 'STOP please'] },
  { weight: 0.2, texts: ['YES', 'Yes', 'y'] },
  { weight: 0.3, texts: ['when will my order arrive?', 'Where is my package?', 'what day does it come?'] },
  { weight: 0.4, texts: ['Thanks!', 'Who is this?', 'Can you call me back later', 'ok cool'] },
];
function textFor(i: number): string {
  let r = ((i * 2654435761) % 1000) / 1000;
  for (const p of MIX) {
    if (r < p.weight) return p.texts[i % p.texts.length];
    r -= p.weight;
  }
  return MIX[MIX.length - 1].texts[0];
}

async function main() {
  const db = await benchDb();
  const prefix = topicPrefix('reply');
  const sim = await startSim(benchCarriers({ alpha: 1_000_000, beta: 1_000_000 }), allDelivered(31));
  const kafka = new Kafka({
    clientId: 'parley-bench-replies',
    brokers: DEFAULT_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let engine;
  try {
    engine = await spawnEngine('all', runEnv(sim, prefix, { DATABASE_POOL_SIZE: '20' }), { name: 'engine' });
    const ws = await createWorkspace(db, 'bench-replies');
    const api = new Api(engine.url, ws.key);
    const numbers = Array.from({ length: NUMBERS }, (_, i) =>
      numberAt(i % 2 ? '+1303' : '+1202', 3_000_000 + i),
    );
    // Other numbers for the warm-up (their STOPs must not touch the measured numbers' consent).
    const warmNumbers = Array.from({ length: WARM_NUMBERS }, (_, i) =>
      numberAt(i % 2 ? '+1303' : '+1202', 4_000_000 + i),
    );
    const everyone = [...numbers, ...warmNumbers];
    log(`prior outbound: ${everyone.length} messages so replies match a thread`);
    const prior = await sendBatches(
      api,
      (i) => ({
        to: everyone[i],
        from: SENDER,
        body: `Your order ${i} ships today`,
        metadata: { order_id: `A${i}` },
      }),
      everyone.length,
      3,
    );
    const ready = await waitAllTerminal(db, ws.workspaceId, prior.accepted.length, 300_000);
    if (!ready.ok) throw new Error(`prior outbound messages not terminal: ${JSON.stringify(ready.counts)}`);
    await producer.connect();

    const topic = `${prefix}sms.inbound`;
    const CHUNK = Math.max(1, Math.round(RATE / 20)); // every 50 ms
    /** Produces `count` envelopes at RATE, in 50 ms chunks keyed by number; returns when all are sent. */
    const produce = async (
      count: number,
      from: string[],
      seen: (j: number, env: InboundEnvelope) => void,
    ) => {
      const start = now();
      for (let i = 0, k = 0; i < count; i += CHUNK, k++) {
        const wait = start + k * 50 - now();
        if (wait > 0) await sleep(wait);
        const messages = [];
        for (let j = i; j < Math.min(count, i + CHUNK); j++) {
          const number = from[j % from.length];
          const env: InboundEnvelope = {
            id: randomUUID(),
            connectorId: 'smpp',
            from: number,
            to: SENDER,
            body: textFor(j),
            receivedAt: Date.now(),
          };
          seen(j, env);
          messages.push({ key: number, value: JSON.stringify(env) });
        }
        await producer.send({ topic, messages });
      }
    };

    // Warm-up, not measured: three seconds of the same mix at the same rate from other numbers, so
    // the producer's first sends (metadata, producer id), the engine's cold code paths and its
    // connection pool growing are behind us; the figures below are the router's steady state.
    const WARM = Math.round(RATE * WARM_SECONDS);
    log(`warm-up: ${fmt(WARM)} replies from ${fmt(WARM_NUMBERS)} other numbers at ${RATE}/s (not measured)`);
    const warm0 = Date.now();
    await produce(WARM, warmNumbers, () => undefined);
    await waitFor(
      async () => {
        const r = await sql<{
          n: number;
        }>`select count(*)::int as n from inbound_messages where workspace_id = ${ws.workspaceId}`.execute(
          db,
        );
        return r.rows[0].n >= WARM;
      },
      60_000,
      100,
    );
    // ...and what it set off is done: follow-ups carried out, the confirmations it sent delivered.
    await waitFor(
      async () => {
        const r = await sql<{ n: number }>`
        select (select count(*) from inbound_messages where workspace_id = ${ws.workspaceId} and follow_ups is not null)
             + (select count(*) from messages where workspace_id = ${ws.workspaceId}
                  and status <> all(${TERMINAL}::text[]))
          as n`.execute(db);
        return Number(r.rows[0].n) === 0;
      },
      60_000,
      100,
    );
    log(`warm-up stored and its follow-ups done after ${((Date.now() - warm0) / 1000).toFixed(1)} s`);

    log(`producing ${fmt(N)} inbound envelopes to ${topic} at ${RATE}/s`);
    const ids: string[] = [];
    const stopIdx = new Set<number>();
    const t0 = now();
    const wall0 = Date.now();
    await produce(N, numbers, (j, env) => {
      if (/stop|unsubscribe/i.test(env.body)) stopIdx.add(j);
      ids.push(env.id);
    });
    const produceSecs = (now() - t0) / 1000;
    log(`produced in ${produceSecs.toFixed(1)} s (${fmt(N / produceSecs)}/s offered)`);

    let stored = 0;
    let lastChange = Date.now();
    const all = await waitFor(
      async () => {
        const r = await sql<{ n: number }>`
          select count(*)::int as n from inbound_messages where workspace_id = ${ws.workspaceId} and received_at >= ${new Date(wall0)}`.execute(
          db,
        );
        if (r.rows[0].n !== stored) lastChange = Date.now();
        stored = r.rows[0].n;
        // No progress for 30 s: the router is not consuming (stop waiting, report it).
        if (Date.now() - lastChange > 30_000)
          throw new Error(`router stalled: ${stored} of ${N} inbound rows stored, none for 30 s`);
        return stored >= N;
      },
      Math.max(120_000, (N / 200) * 1000),
      200,
    );
    const span = await sql<{ first: Date; last: Date }>`
      select min(created_at) as first, max(created_at) as last from inbound_messages
       where workspace_id = ${ws.workspaceId} and received_at >= ${new Date(wall0)}`.execute(db);
    const lastStored = span.rows[0].last?.getTime() ?? Date.now();
    const secs = (lastStored - wall0) / 1000;
    const rate = stored / secs;
    log(
      `stored ${fmt(stored)} of ${fmt(N)} inbound rows (${all ? 'all' : 'TIMED OUT'}); first produce → last row ${secs.toFixed(1)} s → ${fmt(rate)} rows/s`,
    );

    const lat = await sql<{ ms: number }>`
      select extract(epoch from (recorded_at - occurred_at)) * 1000 as ms
        from consent_events where workspace_id = ${ws.workspaceId} and kind = 'opt_out' and source <> 'api'
         and occurred_at >= ${new Date(wall0)}`.execute(db);
    const ms = lat.rows.map((r) => Number(r.ms));
    const p50 = pct(ms, 50);
    const p99 = pct(ms, 99);
    log(
      `opt-outs committed: ${ms.length} (STOP-like inbound sent: ${stopIdx.size}); received → committed p50 ${p50?.toFixed(0)} ms, p99 ${p99?.toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms`,
    );
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    const hist = metrics
      .split('\n')
      .filter((l) => l.startsWith('parley_opt_out_commit_seconds_') && !l.includes('_bucket'))
      .join('; ');
    const intents = await sql<{ intent: string; n: number }>`
      select intent, count(*)::int as n from inbound_messages
       where workspace_id = ${ws.workspaceId} and received_at >= ${new Date(wall0)} group by intent order by 2 desc`.execute(
      db,
    );
    details.push(
      `after a warm-up of ${fmt(WARM)} replies of the same mix from ${fmt(WARM_NUMBERS)} other numbers (${WARM_SECONDS} s at the same rate, not measured): ${fmt(N)} inbound to ${fmt(NUMBERS)} numbers with prior outbound, offered at ${fmt(N / produceSecs)}/s; stored ${fmt(stored)}; first produce → last row stored ${secs.toFixed(1)} s: **${fmt(rate)} inbound rows/s**`,
      `intents: ${intents.rows.map((r) => `${r.intent} ${r.n}`).join(', ')}`,
      `opt-outs committed ${ms.length}: received → committed (consent_events.recorded_at − occurred_at) **p50 ${p50?.toFixed(0)} ms, p99 ${p99?.toFixed(0)} ms**; router histogram (warm-up included): ${hist || 'not found on /metrics'}`,
    );
    rows.push(
      {
        scenario: 'replies throughput',
        size: SIZE,
        rate: `${fmt(rate)} rows/s`,
        target: '≥ 2,000/s',
        verdict: !all ? 'FAIL' : rate >= 0.95 * 2_000 ? 'pass' : 'below target',
        notes: `offered ${fmt(N / produceSecs)}/s`,
      },
      {
        scenario: 'replies STOP p99',
        size: `${ms.length} STOP`,
        rate: `p99 ${p99?.toFixed(0)} ms`,
        target: '≤ 200 ms',
        verdict: !ms.length ? 'FAIL' : p99 <= 200 ? 'pass' : 'below target',
        notes: `p50 ${p50?.toFixed(0)} ms`,
      },
    );
  } finally {
    await producer.disconnect().catch(() => undefined);
    await stopRun({ engines: engine ? [engine] : [], sim, db, prefix });
  }
}

runScenario(main, rows, {
  name: 'replies',
  details,
  failed: (err) => failedRow('replies', SIZE, '-', err),
});
