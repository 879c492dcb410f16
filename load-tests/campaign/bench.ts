// Campaign benchmark (issue 5): N opted-in contacts imported through the API, a marketing campaign
// (caps high, every contact's time zone one where it is daytime now, so quiet hours do not hold)
// created and launched; measured: expansion to Kafka (the campaign's `expanded` count and
// launched_at → expanded_at), end to end (every message terminal in the DB), and, while it drains,
// transactional messages sent at 20/s with their p99 accept → submitted (DB timestamps). The engine
// runs as deploy/ lays it out (api | bulk dispatcher | priority dispatcher | receipts, router and
// scheduler: `--engines split`, the default) or as one process (`--engines all`); the simulator runs in a process of its own.
//
// After the campaign the same engines take the same number of messages through the API path
// (POST /v1/messages/batch, no probe), so the campaign's rate is compared with the API path's in one
// run (`--skip-api-path`: not). `--probe-rate 0` drains the campaign with no transactional probe.
//
// `--expansion-alone` starts no dispatcher: the expansion is measured on a machine that does nothing
// else (what it costs by itself), and nothing is drained.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/campaign/bench.js [--full | --n 20000] [--engines split|all]
//     [--expansion-alone] [--probe-rate 20] [--skip-api-path]
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import {
  Api,
  ResultRow,
  EngineProc,
  SENDER,
  benchCarriers,
  benchDb,
  CpuMeter,
  pidsByName,
  createWorkspace,
  fmt,
  log,
  now,
  numberAt,
  pct,
  sizeOf,
  sleep,
  engineLayout,
  spawnEngines,
  startSimProcess,
  topicPrefix,
  waitAllTerminal,
  waitTerminal,
  waitFor,
  finalsCounted,
  sendBatches,
  watchdog,
} from '../lib/harness';
import type { Db } from '../../src/infra/db/db';
import { importAudience, launchCampaign, watchExpansion } from '../lib/campaign';
import { SIZE_OPTIONS, allDelivered, failedRow, runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({
  options: {
    ...SIZE_OPTIONS,
    engines: { type: 'string', default: 'split' },
    'expansion-alone': { type: 'boolean', default: false },
    /** Transactional messages per second sent while the campaign drains (0: none). */
    'probe-rate': { type: 'string', default: '20' },
    /** Skip the API path run (the same number of messages through POST /v1/messages/batch after the campaign, same engines). */
    'skip-api-path': { type: 'boolean', default: false },
  },
});
const PROBE_RATE = Number(values['probe-rate']);
const ALONE = values['expansion-alone'];
// Alone: the split layout without its dispatchers (the expander runs with the scheduler role).
const ENGINES = ALONE
  ? engineLayout('split').filter((e) => e.roles !== 'dispatcher')
  : engineLayout(values.engines);
const N = sizeOf(values, 20_000, 1_000_000);
const SIZE = `${fmt(N)} recipients`;
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog((values.full ? 120 : 12) * 60_000);

async function main() {
  const db = await benchDb();
  const prefix = topicPrefix('camp');
  const sim = await startSimProcess(benchCarriers({ alpha: 1_000_000, beta: 1_000_000 }), allDelivered(21));
  let engines: EngineProc[] = [];
  try {
    const env = runEnv(sim, prefix, { DATABASE_POOL_SIZE: '20' });
    engines = await spawnEngines(ENGINES, env);
    log(`engines ${ENGINES.map((e) => e.name).join(' | ')}, simulator in its own process`);
    const ws = await createWorkspace(db, 'bench-campaign');
    const api = new Api(engines[0].url, ws.key);
    const aud = await importAudience(api, N, 0, values.full ? 1_800_000 : 300_000);
    details.push(
      `import of ${fmt(N)} contacts through the API: ${aud.importSeconds.toFixed(1)} s (${fmt(N / aud.importSeconds)} rows/s)`,
    );
    await sim.reset();

    // CPU from the launch on (the plan computed at creation is not the expansion's).
    const meter = new CpuMeter(pidsByName(ENGINES, engines));
    const finalsBefore = await finalsCounted(engines, 'marketing');
    const c = await launchCampaign(api, aud.audienceId, {
      from: SENDER,
      beforeLaunch: () => meter.restart(),
    });
    log(`campaign ${c.campaignId} launched (plan recipients ${c.recipients})`);
    if (ALONE) {
      const exp = await watchExpansion(db, c, values.full ? 1_800_000 : 300_000);
      const cpu = meter.perMessage(Math.max(1, exp.expanded));
      log(
        `expansion alone: ${fmt(exp.expanded)} of ${fmt(exp.recipients)} in ${exp.seconds.toFixed(1)} s → ${fmt(exp.rate)} msgs/s; CPU per message: ${cpu.parts}`,
      );
      details.push(
        `expansion to Kafka with no dispatcher running: ${fmt(exp.expanded)} of ${fmt(exp.recipients)} recipients in ${exp.seconds.toFixed(1)} s: **${fmt(exp.rate)} msgs/s**`,
        `expansion alone, CPU per message: ${cpu.parts}; at 20,000 msg/s two cores allow 100 µs`,
      );
      rows.push({
        scenario: 'campaign expansion alone',
        size: SIZE,
        rate: `${fmt(exp.rate)} msg/s`,
        target: '≥ 20,000 msg/s',
        verdict: exp.expanded >= exp.recipients ? (exp.rate >= 20_000 ? 'pass' : 'below target') : 'FAIL',
        notes: `host CPU ${cpu.busyUs} µs/msg`,
      });
      return;
    }

    // Transactional probe at 20/s while the campaign drains (bounded: stops when it has drained).
    const probeIds: string[] = [];
    let probing = true;
    let probeErrors = 0;
    const probe = (async () => {
      let i = 0;
      const t0 = now();
      while (probing && PROBE_RATE > 0 && i < PROBE_RATE * 1_800) {
        const due = t0 + (i * 1000) / PROBE_RATE;
        const wait = due - now();
        if (wait > 0) await sleep(wait);
        const k = i++;
        void api
          .post<{ id: string }>('/v1/messages', {
            to: numberAt(k % 2 ? '+1303' : '+1202', 7_000_000 + k),
            body: `Order ${k} ships today`,
          })
          .then((r) => (r.status === 202 ? probeIds.push(r.body.id) : probeErrors++))
          .catch(() => probeErrors++);
      }
    })();

    const exp = await watchExpansion(db, c, values.full ? 1_800_000 : 300_000);
    const expCpu = meter.perMessage(Math.max(1, exp.expanded));
    log(
      `expansion: ${fmt(exp.expanded)} of ${fmt(exp.recipients)} in ${exp.seconds.toFixed(1)} s → ${fmt(exp.rate)} msgs/s to Kafka; host CPU per expanded message (the drain's included): ${expCpu.parts}`,
    );
    // The engines' own count of final marketing messages (the probe's are transactional), as the
    // send bench waits: counting statuses in the database every 250 ms scans the campaign's rows
    // each time and takes from the engine the PostgreSQL it measures. The database confirms after.
    const countedAt = await waitFor(
      async () => ((await finalsCounted(engines, 'marketing')) - finalsBefore >= exp.recipients ? now() : 0),
      values.full ? 3_600_000 : 480_000,
      250,
    );
    const confirmed = await waitAllTerminal(
      db,
      ws.workspaceId,
      exp.recipients,
      countedAt ? 60_000 : 1_000,
      (cnt) => log('  statuses', JSON.stringify(cnt)),
      c.campaignId,
    );
    const done = { ...confirmed, doneAt: countedAt || confirmed.doneAt };
    probing = false;
    await probe;
    await sleep(1_000);
    // End to end: campaign messages only (the probe's transactional ones are not counted).
    const e2e = await sql<{ n: number; first: Date; last: Date }>`
      select count(*)::int as n, min(accepted_at) as first, max(final_at) as last
        from messages where campaign_id = ${c.campaignId}`.execute(db);
    const campSecs = (done.doneAt - c.launchedAt) / 1000;
    const campRate = e2e.rows[0].n / campSecs;
    // Launch to the last terminal status, per campaign message (the 20/s probe's few included).
    const drainCpu = meter.perMessage(Math.max(1, e2e.rows[0].n));
    log(`end to end: CPU per message: ${drainCpu.parts}`);
    log(
      `end to end: ${fmt(e2e.rows[0].n)} campaign messages terminal=${done.ok} in ${campSecs.toFixed(1)} s from launch → ${fmt(campRate)} msgs/s; ${JSON.stringify(done.counts)}`,
    );

    // Probe latency from the DB: accepted_at → submitted_at.
    await waitAllTerminal(db, ws.workspaceId, 0, 30_000);
    const lat = await sql<{ ms: number | null; status: string }>`
      select extract(epoch from (submitted_at - accepted_at)) * 1000 as ms, status
        from messages where id = any(${probeIds}::uuid[])`.execute(db);
    const ms = lat.rows.filter((r) => r.ms !== null).map((r) => Number(r.ms));
    const p50 = pct(ms, 50);
    const p99 = pct(ms, 99);
    const apiPath = !values['skip-api-path']
      ? await apiPathRate(api, engines, db, ws.workspaceId, N)
      : undefined;
    log(
      `transactional probe: ${probeIds.length} sent at ${PROBE_RATE}/s (${probeErrors} errors), ${ms.length} submitted; accept→submitted p50 ${p50?.toFixed(0)} ms, p99 ${p99?.toFixed(0)} ms, max ${Math.max(...ms).toFixed(0)} ms`,
    );
    const st = await sim.stats();
    details.push(
      `expansion to Kafka: ${fmt(exp.expanded)} of ${fmt(exp.recipients)} recipients in ${exp.seconds.toFixed(1)} s (launched_at → expanded_at): **${fmt(exp.rate)} msgs/s**`,
      `end to end (launch → every campaign message terminal): ${fmt(e2e.rows[0].n)} in ${campSecs.toFixed(1)} s: **${fmt(campRate)} msgs/s**; statuses ${JSON.stringify(done.counts)}`,
      `transactional at ${PROBE_RATE}/s during the drain: ${ms.length} messages, accept→submitted **p50 ${p50?.toFixed(0)} ms, p99 ${p99?.toFixed(0)} ms**, max ${Math.max(...ms).toFixed(0)} ms; ${probeErrors} API errors`,
      `simulator: accepted ${st.accepted}, duplicates ${st.duplicates}, throttled ${st.throttled}`,
      `host CPU per message while expanding (the drain running beside it): ${expCpu.parts}; from launch to the last terminal status, per campaign message: ${drainCpu.parts}`,
    );
    rows.push(
      {
        scenario: 'campaign expansion',
        size: SIZE,
        rate: `${fmt(exp.rate)} msg/s`,
        target: '≥ 20,000 msg/s',
        verdict: exp.expanded >= exp.recipients ? (exp.rate >= 20_000 ? 'pass' : 'below target') : 'FAIL',
      },
      {
        scenario: 'campaign e2e',
        size: SIZE,
        rate: `${fmt(campRate)} msg/s`,
        target: '≥ 5,000 msg/s',
        verdict: !done.ok || st.duplicates ? 'FAIL' : campRate >= 5_000 ? 'pass' : 'below target',
        notes: `duplicates ${st.duplicates}`,
      },
      ...(apiPath
        ? [
            {
              scenario: 'campaign / API path',
              size: SIZE,
              rate: `${(campRate / apiPath.rate).toFixed(2)}`,
              target: '≥ 1.00',
              verdict: (campRate >= apiPath.rate ? 'pass' : 'below target') as ResultRow['verdict'],
              notes: `API path ${fmt(apiPath.rate)} msg/s, same engines, after the campaign; probe ${PROBE_RATE}/s during the campaign only`,
            },
          ]
        : []),
      ...(PROBE_RATE > 0
        ? [
            {
              scenario: 'campaign txn p99',
              size: `${ms.length} txn`,
              rate: `p99 ${p99?.toFixed(0)} ms`,
              target: '≤ 250 ms',
              verdict: (!ms.length ? 'FAIL' : p99 <= 250 ? 'pass' : 'below target') as ResultRow['verdict'],
              notes: `p50 ${p50?.toFixed(0)} ms`,
            },
          ]
        : []),
    );
    if (apiPath)
      details.push(
        `API path on the same engines right after (POST /v1/messages/batch, ${fmt(N)} messages, no probe): **${fmt(apiPath.rate)} msgs/s**; campaign / API path ${(campRate / apiPath.rate).toFixed(2)}; CPU per message ${apiPath.cpu}`,
      );
  } finally {
    await stopRun({ engines, sim, db, prefix });
  }
}

/** The API path on the same engines: N messages in batches of 1,000, accept → every one terminal. */
async function apiPathRate(api: Api, engines: EngineProc[], db: Db, workspaceId: string, n: number) {
  const meter = new CpuMeter(pidsByName(ENGINES, engines));
  const before = await finalsCounted(engines);
  const t0 = now();
  const sent = await sendBatches(
    api,
    (i) => ({
      to: numberAt(i % 2 ? '+1303' : '+1202', 8_000_000 + i),
      body: `Your parcel ${i} arrives today between 2 and 4 pm.`,
    }),
    n,
    3,
  );
  if (sent.errors.length) log('API path errors:', sent.errors.slice(0, 3));
  // The engines' count of final statuses (as the send bench waits), offset by what came before.
  const done = await waitTerminal(
    engines,
    db,
    workspaceId,
    sent.accepted.length,
    Math.max(180_000, n * 20),
    before,
  );
  const rate = sent.accepted.length / ((done.doneAt - t0) / 1000);
  const cpu = meter.perMessage(sent.accepted.length).parts;
  log(
    `API path, same engines: ${fmt(sent.accepted.length)} in ${((done.doneAt - t0) / 1000).toFixed(1)} s → ${fmt(rate)} msgs/s; CPU per message: ${cpu}`,
  );
  return { rate, cpu };
}

runScenario(main, rows, {
  name: 'campaign',
  details,
  failed: (err) => failedRow('campaign', SIZE, '-', err),
});
