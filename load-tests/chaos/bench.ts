// Chaos scenarios (issue 8). Each: a marketing campaign to N opted-in contacts (api, receipts,
// router and scheduler in one engine process, the bulk and the priority dispatcher in one each, as
// deploy/ splits them; the STOP confirmations leave through the priority one), a STOP arriving mid-way
// from some recipients whose message has not left yet (as SMPP MO from the simulator), and one fault:
//   a  kill -9 of the bulk dispatcher process (the campaign's), restarted 3 s later
//   b  Redis restarted (shutdown nosave, every key lost, then started again)
//   c  PostgreSQL restarted (pg_ctl restart -m fast)
//      b and c run the engine against a Redis / PostgreSQL of the suite's own (private ports, data
//      under .cache/), so they restart a real server without touching the ones other work uses
//   d  the simulator drops every SMPP connection, then answers throttled for 30 s (POST /scenario)
//   e  one broker of a three-broker KRaft cluster (PARLEY_KAFKA_PORT=19092, never the default
//      broker) stopped and restarted; topics with replication factor 3
// After each, from the simulator's counts and the database: every message terminal, zero duplicates
// at the carrier, zero sends after a committed STOP, zero cap violations. Each prints its verdict.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/chaos/bench.js [--only a,b,c,d,e] [--full | --n 10000]
//   --keep-cluster           leave the three-broker cluster running after e
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import {
  Api,
  BENCH_DATABASE_URL,
  EngineProc,
  ROOT,
  ResultRow,
  SENDER,
  benchCarriers,
  benchDb,
  capViolations,
  createWorkspace,
  deleteTopics,
  emitResults,
  fmt,
  log,
  numberAt,
  sendBatches,
  now,
  sizeOf,
  sleep,
  dispatcherSpecs,
  spawnEngine,
  startSimProcess,
  topicPrefix,
  waitAllTerminal,
  waitFor,
  watchdog,
} from '../lib/harness';
import type { SimulatedOffer } from '../../src/simulator/carrier-simulator';
import { importAudience, launchCampaign } from '../lib/campaign';
import { PrivateService, startPrivatePostgres, startPrivateRedis } from '../lib/private-services';
import { SIZE_OPTIONS, failedRow, runScenario } from '../lib/bench-run';
import {
  CLUSTER_BROKERS,
  CLUSTER_PORT,
  brokerPid,
  clusterDown,
  clusterUp,
  portOpen,
} from '../lib/kafka-cluster';
import type { Db } from '../../src/infra/db/db';

const { values } = parseArgs({
  options: {
    ...SIZE_OPTIONS,
    only: { type: 'string' },
    'keep-cluster': { type: 'boolean', default: false },
    stops: { type: 'string', default: '40' },
    // split: a bulk and a priority dispatcher (as deploy/); all: one dispatcher on both topics
    engines: { type: 'string', default: 'split' },
  },
});
const [BULK_DISPATCHER, ...OTHER_DISPATCHERS] = dispatcherSpecs(values.engines);
const N = sizeOf(values, 10_000, 100_000);
const STOPS = Number(values.stops);
const CAPS = { alpha: 200, beta: 200 };
const ALL = ['a', 'b', 'c', 'd', 'e'];
const NAMES: Record<string, string> = {
  a: 'dispatcher kill -9 + restart',
  b: 'Redis restart',
  c: 'PostgreSQL restart',
  d: 'SMPP connections dropped + 30 s throttled',
  e: 'Kafka broker stop + restart (3 brokers)',
};
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog((values.full ? 150 : 50) * 60_000);

// ---------------------------------------------------------------------------- one scenario

interface Outcome {
  allTerminal: boolean;
  counts: Record<string, number>;
  duplicates: number;
  afterStop: number;
  stopsCommitted: number;
  caps: string;
  capViolations: number;
  faultNote: string;
  secs: number;
  unattributed: number;
  afterStopSent: number;
  carrierGot: number;
  codes: string;
  stops: number;
  failedButDelivered: number;
  unknownButTaken: number;
  tied: number;
}

async function scenario(id: string): Promise<Outcome> {
  // b and c restart a server of their own; the engine and these checks use it instead of the shared one.
  const priv: PrivateService | undefined =
    id === 'b' ? await startPrivateRedis(ROOT) : id === 'c' ? await startPrivatePostgres(ROOT) : undefined;
  const db: Db = await benchDb(4, id === 'c' ? priv!.url : BENCH_DATABASE_URL);
  const prefix = topicPrefix(`chaos${id}`);
  const brokers = id === 'e' ? CLUSTER_BROKERS : undefined;
  // The carrier in a process of its own, keeping every message it takes: its one-second windows
  // are counted on a clock this bench (restarting servers, reading the database) cannot stall.
  const sim = await startSimProcess(
    benchCarriers({ ...CAPS }),
    { seed: 51, receipt_delay_ms: { min: 5, max: 60 }, outcomes: { delivered: 1 } },
    { journal: true },
  );
  const procs: EngineProc[] = [];
  const env: Record<string, string> = { PARLEY_CARRIERS_FILE: sim.file, KAFKA_TOPIC_PREFIX: prefix };
  if (brokers) Object.assign(env, { KAFKA_BROKERS: brokers, KAFKA_REPLICATION_FACTOR: '3' });
  if (id === 'b') env.REDIS_URL = priv!.url;
  if (id === 'c') env.DATABASE_URL = priv!.url;
  let dispatcher: EngineProc | undefined;
  try {
    const main = await spawnEngine('api,receipts,router,scheduler', env, { name: 'api+' });
    procs.push(main);
    const bulkEnv = { ...env, ...BULK_DISPATCHER.env };
    dispatcher = await spawnEngine(BULK_DISPATCHER.roles, bulkEnv, { name: BULK_DISPATCHER.name });
    for (const d of OTHER_DISPATCHERS)
      procs.push(await spawnEngine(d.roles, { ...env, ...d.env }, { name: d.name }));
    const ws = await createWorkspace(db, `bench-chaos-${id}`);
    const api = new Api(main.url, ws.key);
    const aud = await importAudience(api, N, id.charCodeAt(0) * 100_000);
    // Warm-up, in a workspace of its own: a fresh simulator process stalled up to 100 ms on its
    // first heavy traffic (first-time code paths), and submits that queued meanwhile were counted
    // as one burst at the campaign's start (offered peaks of 216–220 before any fault).
    const warmWs = await createWorkspace(db, `bench-chaos-warm-${id}`);
    const warm = await sendBatches(
      new Api(main.url, warmWs.key),
      (i) => ({ to: numberAt(i % 2 ? '+1303' : '+1202', 9_000_000 + i), body: `warm up ${i}` }),
      300,
      1,
    );
    if (!(await waitAllTerminal(db, warmWs.workspaceId, warm.accepted.length, 60_000)).ok)
      log(`[${id}] warm-up messages not all terminal in 60 s`);
    await sim.reset();
    const c = await launchCampaign(api, aud.audienceId, { from: SENDER, name: `chaos ${id}` });
    log(`[${id}] campaign ${c.campaignId} launched to ${fmt(N)}`);

    // Mid-way: about a third of the campaign at the carrier.
    const taken = async () => (await sim.stats()).accepted;
    await waitFor(async () => (await taken()) >= N / 3, 300_000, 100);
    // STOP from recipients near the end of the list (their messages have not left yet).
    const stopNumbers = aud.numbers
      .slice(-Math.floor(N / 5))
      .filter((_, i) => i % Math.max(1, Math.floor(N / 5 / STOPS)) === 0)
      .slice(0, STOPS);
    const stopSentAt = Date.now();
    await Promise.all(stopNumbers.map((from) => sim.sendMo('parley', { from, to: SENDER, text: 'STOP' })));
    log(`[${id}] ${stopNumbers.length} STOPs sent as MO at ${await taken()} sent`);

    let faultNote = '';
    const tFault = now();
    const tFaultEpoch = Date.now();
    // How late this bench's event loop ran from the fault on (the simulator no longer shares it).
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    switch (id) {
      case 'a': {
        dispatcher.proc.kill('SIGKILL');
        await dispatcher.exited;
        log('[a] dispatcher killed with SIGKILL; restarting in 3 s');
        await sleep(3_000);
        dispatcher = await spawnEngine(BULK_DISPATCHER.roles, bulkEnv, { name: `${BULK_DISPATCHER.name}-2` });
        faultNote = `dispatcher SIGKILL at ${await taken()} sent, new dispatcher ready after ${((now() - tFault) / 1000).toFixed(1)} s`;
        break;
      }
      case 'b':
      case 'c':
        faultNote = await priv!.restart();
        break;
      case 'd': {
        const r1 = await fetch(`${sim.httpUrl}/scenario`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ drop_connections: true }),
        });
        const r2 = await fetch(`${sim.httpUrl}/scenario`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ throttle_all_seconds: 30 }),
        });
        faultNote = `POST /scenario drop_connections → ${r1.status}, throttle_all_seconds 30 → ${r2.status}`;
        break;
      }
      case 'e': {
        const pid = brokerPid(2);
        process.kill(pid, 'SIGTERM');
        const gone = await waitFor(async () => !(await portOpen(CLUSTER_PORT + 10)), 60_000, 200);
        log(`[e] broker 2 (pid ${pid}) stopped: ${gone}; restarting in 10 s`);
        await sleep(10_000);
        const out = await clusterUp();
        faultNote = `broker 2 (127.0.0.1:${CLUSTER_PORT + 10}) SIGTERM, back after ${((now() - tFault) / 1000).toFixed(1)} s: ${out
          .split('\n')
          .filter((l) => l.includes('kafka'))
          .join(' ')
          .slice(0, 200)}`;
        break;
      }
    }
    log(`[${id}] fault: ${faultNote}`);

    // The dispatcher's reconciler ends fenced messages with no outcome as unknown after 10 minutes
    // (checked every minute), so what a crashed dispatcher fenced needs up to ~11 minutes.
    const done = await waitAllTerminal(
      db,
      ws.workspaceId,
      N - STOPS,
      values.full ? 3_600_000 : 14 * 60_000,
      (cnt) => log(`[${id}]   statuses`, JSON.stringify(cnt)),
    );
    const secs = (done.doneAt - c.launchedAt) / 1000;
    loop.disable();
    log(
      `[${id}] bench event loop from the fault on: p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms late, max ${(loop.max / 1e6).toFixed(0)} ms`,
    );
    await sleep(2_000); // late duplicates would show here
    const st = await sim.stats();
    const sent = await sim.journal();

    // Sends after a committed STOP: campaign messages the simulator took after the commit time.
    const commits = await sql<{ e164: string; at: Date }>`
      select e164, min(recorded_at) as at from consent_events
       where workspace_id = ${ws.workspaceId} and kind = 'opt_out' group by e164`.execute(db);
    const campaignIds = new Set(
      (
        await sql<{
          id: string;
        }>`select id::text from messages where campaign_id = ${c.campaignId} and to_e164 = any(${stopNumbers}::text[])`.execute(
          db,
        )
      ).rows.map((r) => r.id),
    );
    let afterStop = 0;
    for (const cm of commits.rows) {
      for (const m of sent) {
        if (
          m.to === cm.e164 &&
          m.at > cm.at.getTime() &&
          m.parleyMessageId &&
          campaignIds.has(m.parleyMessageId)
        ) {
          afterStop++;
          log(
            `[${id}] SEND AFTER STOP: ${m.to} message ${m.parleyMessageId} at ${new Date(m.at).toISOString()} > committed ${cm.at.toISOString()}`,
          );
        }
      }
    }
    // STOPs the router stored without a workspace (not attributed: no opt-out recorded), and
    // campaign messages the carrier got for any STOP number after the STOP was sent.
    const unattributed = (
      await sql<{ n: number }>`select count(*)::int as n from inbound_messages
        where workspace_id is null and from_e164 = any(${stopNumbers}::text[]) and received_at >= ${new Date(stopSentAt - 1_000)}`.execute(
        db,
      )
    ).rows[0].n;
    let afterStopSent = 0;
    for (const m of sent)
      if (
        stopNumbers.includes(m.to) &&
        m.at > stopSentAt &&
        m.parleyMessageId &&
        campaignIds.has(m.parleyMessageId)
      )
        afterStopSent++;
    const carrierGot = new Set(sent.filter((m) => m.parleyMessageId).map((m) => m.parleyMessageId!)).size;
    const codes = (
      await sql<{
        status: string;
        error_code: string | null;
        n: number;
      }>`select status, error_code, count(*)::int as n from messages
        where workspace_id = ${ws.workspaceId} and status not in ('delivered') group by 1, 2 order by 3 desc`.execute(
        db,
      )
    ).rows.map((r) => `${r.status}${r.error_code ? `/${r.error_code}` : ''} ${r.n}`);
    // Outcomes against the carrier's journal: a message the carrier took and delivered must not be
    // reported as failed (issue 22); unknown ones are those no receipt could be tied to.
    const deliveredAtCarrier = new Set(
      sent
        .filter((m) => m.parleyMessageId && (m.outcomes ?? ['delivered']).every((o) => o === 'delivered'))
        .map((m) => m.parleyMessageId!),
    );
    const notDelivered = (
      await sql<{ id: string; status: string }>`select id::text, status from messages
        where workspace_id = ${ws.workspaceId} and status in ('failed', 'unknown', 'undelivered', 'expired')`.execute(
        db,
      )
    ).rows;
    const failedButDelivered = notDelivered.filter(
      (r) => r.status === 'failed' && deliveredAtCarrier.has(r.id),
    ).length;
    const unknownButTaken = notDelivered.filter(
      (r) => r.status === 'unknown' && deliveredAtCarrier.has(r.id),
    ).length;
    const tied = (
      await sql<{ n: number }>`select count(*)::int as n from messages
       where workspace_id = ${ws.workspaceId} and outcome->>'matched_by' is not null`.execute(db)
    ).rows[0].n;
    log(
      `[${id}] simulator event loop since the campaign's start: p99 ${st.event_loop.p99_ms} ms late, max ${st.event_loop.max_ms} ms`,
    );
    const caps = capViolations(st);
    for (const cv of caps)
      log(`[${id}] ${await describePeak(db, await sim.offers(), cv.carrier, tFaultEpoch)}`);
    const capText = Object.entries(st.carriers)
      .map(([k, v]) => `${k} peak ${v.peak} (offered ${v.peak_offered})/${v.cap}`)
      .join(', ');
    return {
      allTerminal: done.ok,
      counts: done.counts,
      duplicates: st.duplicates,
      afterStop,
      stopsCommitted: commits.rows.filter((r) => stopNumbers.includes(r.e164)).length,
      caps: capText,
      capViolations: caps.length,
      faultNote,
      secs,
      unattributed,
      afterStopSent,
      carrierGot,
      codes: codes.join(', ') || 'none',
      stops: stopNumbers.length,
      failedButDelivered,
      unknownButTaken,
      tied,
    };
  } finally {
    for (const p of [...procs, ...(dispatcher ? [dispatcher] : [])].reverse())
      await p.kill('SIGTERM').catch(() => undefined);
    await sim.stop();
    await db.destroy().catch(() => undefined);
    await deleteTopics(prefix, brokers);
    await priv?.stop().catch(() => undefined);
  }
}

/**
 * Where a carrier's offered peak was: the one-second window with the most segments offered, when
 * it started relative to the fault, and what was in it per 100 ms: campaign messages (the bulk
 * dispatcher's) and others (the priority one's: STOP confirmations), throttled among them.
 */
async function describePeak(
  db: Db,
  offers: SimulatedOffer[],
  carrier: string,
  faultAt: number,
): Promise<string> {
  const list = offers.filter((o) => o.carrier === carrier);
  let best = { start: 0, end: 0, sum: 0 };
  let head = 0;
  let sum = 0;
  for (let i = 0; i < list.length; i++) {
    sum += list[i].segments;
    while (list[head].at <= list[i].at - 1000) sum -= list[head++].segments;
    if (sum > best.sum) best = { start: head, end: i, sum };
  }
  const inPeak = list.slice(best.start, best.end + 1);
  if (!inPeak.length) return `${carrier}: no offers`;
  const ids = [...new Set(inPeak.map((o) => o.parleyMessageId).filter((x): x is string => !!x))];
  const campaign = new Set(
    (
      await sql<{
        id: string;
      }>`select id::text from messages where id = any(${ids}::uuid[]) and campaign_id is not null`.execute(db)
    ).rows.map((r) => r.id),
  );
  const t0 = inPeak[0].at;
  const slices: string[] = [];
  for (let k = 0; k < 10; k++) {
    const part = inPeak.filter((o) => o.at >= t0 + k * 100 && o.at < t0 + (k + 1) * 100);
    const camp = part.filter((o) => o.parleyMessageId && campaign.has(o.parleyMessageId)).length;
    const thr = part.filter((o) => o.throttled).length;
    slices.push(`${camp}+${part.length - camp}${thr ? `(${thr}t)` : ''}`);
  }
  return `${carrier} offered peak ${best.sum} in the second from ${((t0 - faultAt) / 1000).toFixed(2)} s after the fault; per 100 ms campaign+other(throttled): ${slices.join(' ')}`;
}

async function main() {
  const wanted = values.only ? values.only.split(',').map((s) => s.trim()) : ALL;
  for (const id of wanted) {
    if (!NAMES[id]) {
      console.error(`unknown scenario ${id}; one of ${ALL.join(',')}`);
      process.exit(2);
    }
  }
  let clusterStarted = false;
  for (const id of wanted) {
    const name = `chaos ${id}: ${NAMES[id]}`;
    try {
      if (id === 'e') {
        const up = await portOpen(CLUSTER_PORT);
        log(`[e] starting the three-broker cluster on ${CLUSTER_BROKERS}${up ? ' (already up)' : ''}`);
        const out = await clusterUp();
        clusterStarted = !up;
        log(
          `[e] ${out
            .split('\n')
            .filter((l) => l.includes('kafka'))
            .join(' ')}`,
        );
      }
      const t0 = now();
      const o = await scenario(id);
      const pass =
        o.allTerminal &&
        o.duplicates === 0 &&
        o.afterStop === 0 &&
        o.capViolations === 0 &&
        o.stopsCommitted === o.stops &&
        o.failedButDelivered === 0;
      const verdict = pass ? 'pass' : 'FAIL';
      log(
        `${name}: ${verdict.toUpperCase()} — all terminal ${o.allTerminal}, duplicates ${o.duplicates}, sends after STOP ${o.afterStop} (STOPs committed ${o.stopsCommitted}/${STOPS}), cap violations ${o.capViolations} (${o.caps}); ${((now() - t0) / 1000).toFixed(0)} s`,
      );
      details.push(
        `**${name}: ${verdict}** (${fmt(N)} recipients, ${STOPS} STOPs mid-way) — fault: ${o.faultNote}; all terminal ${o.allTerminal ? 'yes' : 'NO'} ${JSON.stringify(o.counts)} after ${o.secs.toFixed(0)} s; duplicates at the carrier ${o.duplicates}; sends after a committed STOP ${o.afterStop} (opt-outs committed ${o.stopsCommitted}/${STOPS}); cap violations ${o.capViolations} (${o.caps}); STOPs stored without a workspace (no opt-out recorded) ${o.unattributed}, campaign messages reaching STOP numbers after their STOP was sent ${o.afterStopSent}; distinct messages at the carrier ${fmt(o.carrierGot)}; not delivered: ${o.codes}; failed although the carrier delivered them ${o.failedButDelivered}, unknown although the carrier delivered them ${o.unknownButTaken}, receipts tied by connector+recipient+time to ${o.tied}`,
      );
      rows.push({
        scenario: `chaos ${id}`,
        size: `${fmt(N)} rcpt`,
        rate: `${o.secs.toFixed(0)} s`,
        target: 'terminal, 0 dup, 0 after STOP, 0 cap',
        verdict,
        notes: `${NAMES[id]}; dup ${o.duplicates}, afterSTOP ${o.afterStop}, stops ${o.stopsCommitted}/${STOPS}, capviol ${o.capViolations}, terminal ${o.allTerminal}, unattributed STOPs ${o.unattributed}`,
      });
    } catch (err) {
      log(`${name}: FAIL (could not complete):`, err);
      details.push(`**${name}: FAIL** — the scenario could not complete: ${String(err).slice(0, 300)}`);
      rows.push(failedRow(`chaos ${id}`, `${fmt(N)} rcpt`, 'invariants hold', err));
    }
  }
  if (clusterStarted && !values['keep-cluster']) {
    log('stopping the three-broker cluster');
    log(clusterDown());
  }
  emitResults('chaos', rows, details);
}

runScenario(main, rows);
