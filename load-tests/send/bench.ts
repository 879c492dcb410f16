// Send benchmark (issue 4). Three parts, one run:
//  1. end to end: N messages through POST /v1/messages/batch to the carrier simulator with caps set
//     high, until every message is terminal in PostgreSQL (the receipt persisted): messages/s;
//  2. the raw pipe on the same machine in the same run: kafkajs produce + consume + SMPP submit
//     through the project's SmppConnector to the same simulator, no engine logic; our rate as a
//     fraction of it;
//  3. caps: two carriers at 50 and 200 segments/s: achieved rate ≥ 95% of each cap, the
//     simulator's peak in any one-second window ≤ cap, zero throttled.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/send/bench.js [--full | --n 20000] [--cap-seconds 15]
//   options: --skip-raw --skip-caps --skip-e2e
//   --engines all (one process with every role) | split (api / bulk dispatcher / priority dispatcher /
//   receipts+router+scheduler processes, as deploy/ runs them; the default)
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { SmppConnector } from '../../src/modules/carriers/smpp/smpp.connector';
import {
  Api,
  ResultRow,
  SENDER,
  benchCarriers,
  benchDb,
  createWorkspace,
  deleteTopics,
  DEFAULT_BROKERS,
  EngineProc,
  CpuMeter,
  pidsByName,
  emitResults,
  fmt,
  log,
  now,
  numberAt,
  sendBatches,
  sizeOf,
  engineLayout,
  spawnEngines,
  startSimProcess,
  statusCounts,
  sleep,
  topicPrefix,
  waitAllTerminal,
  waitTerminal,
  waitFor,
  watchdog,
} from '../lib/harness';
import { SIZE_OPTIONS, allDelivered, failedRow, runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({
  options: {
    ...SIZE_OPTIONS,
    'cap-seconds': { type: 'string' },
    'skip-raw': { type: 'boolean', default: false },
    'skip-caps': { type: 'boolean', default: false },
    'skip-e2e': { type: 'boolean', default: false },
    engines: { type: 'string', default: 'split' },
    /** Diagnostics: send the cap run to one carrier only (alpha or beta). */
    'cap-only': { type: 'string' },
  },
});
const N = sizeOf(values, 20_000, 500_000);
const CAP_SECONDS = Number(values['cap-seconds'] ?? (values.full ? 60 : 15));
const SIZE = `${fmt(N)} msgs`;
const HIGH = 1_000_000;
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog((values.full ? 90 : 12) * 60_000);

const ENGINES = engineLayout(values.engines);
// Host CPU per message (µs) of each part, for the budget line: what two cores allow at the target.
let e2eBusyUs = NaN;
let rawBusyUs = NaN;

const bodyOf = (i: number) => `Your parcel ${i} is out for delivery today, track it at example.com/t/${i}`;

async function endToEnd(): Promise<number | undefined> {
  const db = await benchDb();
  const prefix = topicPrefix('send');
  const sim = await startSimProcess(benchCarriers({ alpha: HIGH, beta: HIGH }), allDelivered(11));
  let engines: EngineProc[] = [];
  try {
    const env = runEnv(sim, prefix, { DATABASE_POOL_SIZE: '20' });
    engines = await spawnEngines(ENGINES, env);
    const engine = engines[0];
    log(`end to end: engines ${ENGINES.map((e) => e.name).join(' | ')}`);
    const ws = await createWorkspace(db, 'bench-send');
    const api = new Api(engine.url, ws.key);
    // The path works end to end before timing starts (also joins the consumer groups).
    const warm = await api.must('POST', '/v1/messages', { to: numberAt('+1202', N + 1), body: 'warm up' });
    const warmed = await waitAllTerminal(db, ws.workspaceId, 1, 60_000);
    if (!warmed.ok)
      throw new Error(
        `warm-up message ${warm.id} did not reach a terminal status in 60 s: ${JSON.stringify(warmed.counts)}`,
      );
    await sim.reset();

    log(`end to end: sending ${fmt(N)} messages through POST /v1/messages/batch`);
    const meter = new CpuMeter({ ...pidsByName(ENGINES, engines), bench: 'self', simulator: sim.pid });
    const t0 = now();
    const sent = await sendBatches(
      api,
      (i) => ({ to: numberAt(i % 2 ? '+1303' : '+1202', i), body: bodyOf(i) }),
      N,
      3,
    );
    const tAccepted = now();
    log(
      `accepted ${fmt(sent.accepted.length)} (invalid ${sent.invalid}) in ${((tAccepted - t0) / 1000).toFixed(1)} s: ${fmt((sent.accepted.length * 1000) / (tAccepted - t0))} msgs/s accepted`,
    );
    if (sent.errors.length) log('errors:', sent.errors.slice(0, 3));
    const done = await waitTerminal(
      engines,
      db,
      ws.workspaceId,
      sent.accepted.length + 1,
      Math.max(180_000, N * 20),
    );
    const secs = (done.doneAt - t0) / 1000;
    const rate = sent.accepted.length / secs;
    // CPU per message of each process: steadier than the rate on a machine shared with others.
    const cpu = meter.perMessage(sent.accepted.length);
    e2eBusyUs = cpu.busyUs;
    log(`CPU per message: ${cpu.parts}`);
    const st = await sim.stats();
    log(
      `all terminal: ${done.ok}; ${JSON.stringify(done.counts)}; ${secs.toFixed(1)} s → ${fmt(rate)} msgs/s end to end`,
    );
    log(
      `simulator: accepted ${st.accepted}, duplicates ${st.duplicates}, throttled ${st.throttled}, receipts ${st.receipts_sent}`,
    );
    details.push(
      `end to end: ${fmt(sent.accepted.length)} accepted in ${((tAccepted - t0) / 1000).toFixed(1)} s; all terminal after ${secs.toFixed(1)} s (${done.ok ? 'yes' : 'NO, timed out'}): **${fmt(rate)} msgs/s**; statuses ${JSON.stringify(done.counts)}; simulator duplicates ${st.duplicates}, throttled ${st.throttled}`,
      `end to end, CPU per message (accept to receipt persisted): ${cpu.parts}`,
    );
    rows.push({
      scenario: 'send e2e',
      size: SIZE,
      rate: `${fmt(rate)} msg/s`,
      target: '≥ 5,000 msg/s',
      verdict: !done.ok || st.duplicates > 0 ? 'FAIL' : rate >= 5_000 ? 'pass' : 'below target',
      notes: `duplicates ${st.duplicates}; engines ${values.engines}`,
    });
    return done.ok ? rate : undefined;
  } finally {
    await stopRun({ engines, sim, db, prefix });
  }
}

/** kafkajs produce + consume + SmppConnector.submit to the simulator; no engine logic. */
async function rawPipe(): Promise<number | undefined> {
  const prefix = topicPrefix('raw');
  const topic = `${prefix}raw`;
  const sim = await startSimProcess(benchCarriers({ alpha: HIGH, beta: HIGH }), allDelivered(12));
  const conn = sim.carriers.connectors[0];
  if (conn.kind !== 'smpp') throw new Error('expected an SMPP connector');
  const connector = new SmppConnector(conn);
  const kafka = new Kafka({
    clientId: 'parley-bench-raw',
    brokers: DEFAULT_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${prefix}raw`, maxBytesPerPartition: 1 << 20 });
  try {
    await connector.start();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic, numPartitions: 12, replicationFactor: 1 }],
      waitForLeaders: false,
    });
    const leaders = await waitFor(
      () =>
        admin
          .fetchTopicMetadata({ topics: [topic] })
          .then(
            (m) =>
              m.topics[0]?.partitions.length === 12 && m.topics[0].partitions.every((p) => p.leader >= 0),
          )
          .catch(() => false),
      30_000,
      250,
    );
    if (!leaders) throw new Error(`raw pipe: topic ${topic} has no leaders after 30 s`);
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let submitted = 0;
    let failed = 0;
    let tEnd = 0;
    await consumer.run({
      partitionsConsumedConcurrently: 4,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        await Promise.all(
          batch.messages.map(async (m) => {
            const e = JSON.parse(m.value!.toString());
            const r = await connector.submit({
              messageId: e.id,
              from: SENDER,
              senderKind: 'long_code',
              to: e.to,
              body: e.body,
              encoding: 'GSM-7',
              parts: [e.body],
            });
            if (r.kind === 'accepted') submitted++;
            else failed++;
          }),
        );
        resolveOffset(batch.messages[batch.messages.length - 1].offset);
        await heartbeat();
        if (submitted + failed >= N) tEnd = now();
      },
    });
    await sleep(2_000); // joined
    log(`raw pipe: producing ${fmt(N)} records to ${topic}, consuming and submitting over SMPP`);
    const meter = new CpuMeter({ 'bench (kafkajs + SMPP client)': 'self', simulator: sim.pid });
    const t0 = now();
    for (let i = 0; i < N; i += 1_000) {
      const messages = [];
      for (let j = i; j < Math.min(N, i + 1_000); j++) {
        const to = numberAt(j % 2 ? '+1303' : '+1202', j);
        messages.push({ key: to, value: JSON.stringify({ id: `${prefix}${j}`, to, body: bodyOf(j) }) });
      }
      await producer.send({ topic, messages });
    }
    const deadline = Date.now() + Math.max(120_000, N * 5);
    while (!tEnd && Date.now() < deadline) await sleep(50);
    const secs = ((tEnd || now()) - t0) / 1000;
    const rate = (submitted + failed) / secs;
    // Receipts still arriving after the last submit are the simulator's and the client's; let them in.
    await sleep(1_000);
    const cpu = meter.perMessage(submitted + failed);
    rawBusyUs = cpu.busyUs;
    log(
      `raw pipe: ${fmt(submitted)} accepted, ${failed} not, in ${secs.toFixed(1)} s → ${fmt(rate)} msgs/s; CPU per message: ${cpu.parts}`,
    );
    details.push(
      `raw pipe (kafkajs produce + consume + SmppConnector submit, no engine): ${fmt(submitted)} accepted in ${secs.toFixed(1)} s: **${fmt(rate)} msgs/s**${tEnd ? '' : ' (timed out)'}`,
    );
    details.push(`raw pipe, CPU per message: ${cpu.parts}`);
    return tEnd ? rate : undefined;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await connector.stop().catch(() => undefined);
    await sim.stop();
    await deleteTopics(prefix);
  }
}

async function caps() {
  const db = await benchDb();
  const prefix = topicPrefix('caps');
  const CAPS = { alpha: 50, beta: 200 };
  // The carrier in a process of its own: its one-second windows are counted on its own clock.
  const sim = await startSimProcess(benchCarriers({ ...CAPS, sender: 5_000 }), allDelivered(13));
  let engines: EngineProc[] = [];
  try {
    // Laid out as deploy/ runs it (and as --engines says).
    const env = runEnv(sim, prefix);
    engines = await spawnEngines(ENGINES, env, '-caps');
    log(`caps: engines ${ENGINES.map((e) => e.name).join(' | ')}, simulator in its own process`);
    const ws = await createWorkspace(db, 'bench-caps');
    const api = new Api(engines[0].url, ws.key);
    await api.must('POST', '/v1/messages', { to: numberAt('+1202', 9_999_000), body: 'warm up' });
    if (!(await waitAllTerminal(db, ws.workspaceId, 1, 60_000)).ok)
      throw new Error('cap run: warm-up message not terminal in 60 s');
    await sim.reset();
    const only = values['cap-only'];
    const nAlpha = only === 'beta' ? 0 : CAPS.alpha * CAP_SECONDS;
    const nBeta = only === 'alpha' ? 0 : CAPS.beta * CAP_SECONDS;
    const specs = [
      ...Array.from({ length: nAlpha }, (_, i) => ({
        to: numberAt('+1202', 5_000_000 + i),
        body: `cap alpha ${i}`,
      })),
      ...Array.from({ length: nBeta }, (_, i) => ({
        to: numberAt('+1303', 6_000_000 + i),
        body: `cap beta ${i}`,
      })),
    ].sort(() => Math.random() - 0.5);
    log(`caps: ${nAlpha} messages to alpha (50/s) and ${nBeta} to beta (200/s), interleaved`);
    const sent = await sendBatches(api, (i) => specs[i], specs.length, 2);
    const done = await waitAllTerminal(
      db,
      ws.workspaceId,
      sent.accepted.length + 1,
      CAP_SECONDS * 4_000 + 60_000,
    );
    const st = await sim.stats();
    for (const [carrier, cap] of Object.entries(CAPS)) {
      if (only && only !== carrier) continue;
      const c = st.carriers[carrier];
      // Achieved rate over the drain, on the carrier's clock: segments after the first over the
      // time from the first to the last (every message here is one segment).
      const span = c.first_at !== null && c.last_at !== null ? c.last_at - c.first_at : 0;
      const rate = span > 0 ? ((c.segments - 1) * 1000) / span : 0;
      log(`caps: ${carrier} accepted per second: ${c.per_second.join(' ')}`);
      const ok = done.ok && rate >= 0.95 * cap && c.peak <= cap && c.throttled === 0;
      log(
        `caps: ${carrier} cap ${cap}: ${c.segments} msgs at ${rate.toFixed(1)}/s (${((rate / cap) * 100).toFixed(1)}%), peak ${c.peak}, throttled ${c.throttled}`,
      );
      details.push(
        `cap ${carrier} ${cap} seg/s: ${c.segments} msgs at **${rate.toFixed(1)} seg/s (${((rate / cap) * 100).toFixed(1)}% of cap)**, simulator peak in any 1 s window ${c.peak}, throttled ${c.throttled}, all terminal ${done.ok}; per second ${c.per_second.join(' ')}`,
      );
      rows.push({
        scenario: `send cap ${carrier}`,
        size: `${c.segments} msgs`,
        rate: `${rate.toFixed(1)} seg/s (${((rate / cap) * 100).toFixed(0)}%)`,
        target: `≥ 95% of ${cap}, peak ≤ cap, 0 throttled`,
        verdict: ok ? 'pass' : 'FAIL',
        notes: `peak ${c.peak}, throttled ${c.throttled}`,
      });
    }
    if (!done.ok) log('caps: not all terminal', JSON.stringify(await statusCounts(db, ws.workspaceId)));
  } finally {
    await stopRun({ engines, sim, db, prefix });
  }
}

async function main() {
  let e2e: number | undefined;
  let raw: number | undefined;
  if (!values['skip-e2e']) {
    try {
      e2e = await endToEnd();
    } catch (err) {
      log('end to end failed:', err);
      rows.push(failedRow('send e2e', SIZE, '≥ 5,000 msg/s', err));
    }
  }
  if (!values['skip-raw']) {
    try {
      raw = await rawPipe();
      rows.push({
        scenario: 'send raw pipe',
        size: SIZE,
        rate: raw ? `${fmt(raw)} msg/s` : '-',
        target: 'baseline',
        verdict: raw ? 'info' : 'FAIL',
      });
    } catch (err) {
      log('raw pipe failed:', err);
      rows.push(failedRow('send raw pipe', SIZE, 'baseline', err));
    }
  }
  if (e2e && raw) {
    log(`our rate is ${(e2e / raw).toFixed(2)} of the raw pipe`);
    details.push(
      `our end-to-end rate is **${(e2e / raw).toFixed(2)} of the raw pipe** (the raw pipe stops at submit; ours includes receipts persisted)`,
    );
    const r = rows.find((x) => x.scenario === 'send e2e');
    if (r) r.notes = `${r.notes ?? ''}; ${(e2e / raw).toFixed(2)} of raw pipe`;
  }
  if (Number.isFinite(e2eBusyUs) || Number.isFinite(rawBusyUs)) {
    // What the host can do at all: two cores give 2,000,000 µs of CPU a second.
    const cores = os.cpus().length;
    const budget = (cores * 1e6) / 5_000;
    const ceiling = (us: number) => (Number.isFinite(us) && us > 0 ? fmt((cores * 1e6) / us) : '-');
    const line = `CPU budget: at 5,000 msg/s ${cores} cores allow ${fmt(budget)} µs of host CPU per message; measured host busy per message: end to end ${Number.isFinite(e2eBusyUs) ? e2eBusyUs : '-'} µs (ceiling ${ceiling(e2eBusyUs)} msg/s if the CPU were the only limit), raw pipe ${Number.isFinite(rawBusyUs) ? rawBusyUs : '-'} µs (ceiling ${ceiling(rawBusyUs)} msg/s)`;
    log(line);
    details.push(line);
  }
  if (!values['skip-caps']) {
    try {
      await caps();
    } catch (err) {
      log('cap run failed:', err);
      rows.push(failedRow('send caps', '-', '≥ 95% of cap', err));
    }
  }
  emitResults('send', rows, details);
}

runScenario(main, rows);
