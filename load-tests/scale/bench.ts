// Scale-out benchmark (issue 8): the same send of N messages, first with one dispatcher process and
// then with two (each `node dist/src/main.js` with PARLEY_ROLES=dispatcher; api, receipts, router
// and scheduler in another process), both rates printed, zero duplicates at the simulator checked.
// On 2 cores the point is correctness and the shape, not a speed-up.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/scale/bench.js [--full | --n 10000]
import { parseArgs } from 'node:util';
import {
  Api,
  EngineProc,
  ResultRow,
  benchCarriers,
  benchDb,
  capViolations,
  createWorkspace,
  emitResults,
  fmt,
  log,
  now,
  numberAt,
  sendBatches,
  sizeOf,
  spawnEngine,
  startSim,
  topicPrefix,
  waitAllTerminal,
  watchdog,
} from '../lib/harness';
import { SIZE_OPTIONS, allDelivered, failedRow, runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({ options: SIZE_OPTIONS });
const N = sizeOf(values, 10_000, 200_000);
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog((values.full ? 90 : 15) * 60_000);

async function run(dispatchers: number): Promise<number | undefined> {
  const db = await benchDb();
  const prefix = topicPrefix(`scale${dispatchers}`);
  const sim = await startSim(benchCarriers({ alpha: 1_000_000, beta: 1_000_000 }), allDelivered(41));
  const procs: EngineProc[] = [];
  const env = runEnv(sim, prefix, { DATABASE_POOL_SIZE: '10' });
  try {
    const main = await spawnEngine('api,receipts,router,scheduler', env, { name: 'api+' });
    procs.push(main);
    for (let d = 0; d < dispatchers; d++)
      procs.push(await spawnEngine('dispatcher', env, { name: `dispatcher-${d + 1}` }));
    const ws = await createWorkspace(db, `bench-scale${dispatchers}`);
    const api = new Api(main.url, ws.key);
    await api.must('POST', '/v1/messages', {
      to: numberAt('+1202', 9_990_000 + dispatchers),
      body: 'warm up',
    });
    if (!(await waitAllTerminal(db, ws.workspaceId, 1, 90_000)).ok)
      throw new Error('warm-up message not terminal in 90 s');
    sim.sim.resetStats();
    sim.sent.length = 0;
    log(`${dispatchers} dispatcher process(es): sending ${fmt(N)} messages`);
    const t0 = now();
    const sent = await sendBatches(
      api,
      (i) => ({
        to: numberAt(i % 2 ? '+1303' : '+1202', i),
        body: `Scale test ${i}: your parcel is on its way`,
      }),
      N,
      3,
    );
    const done = await waitAllTerminal(
      db,
      ws.workspaceId,
      sent.accepted.length + 1,
      Math.max(300_000, N * 30),
      (c) => log('  statuses', JSON.stringify(c)),
    );
    const secs = (done.doneAt - t0) / 1000;
    const rate = sent.accepted.length / secs;
    const st = sim.sim.stats();
    const caps = capViolations(sim.sim);
    log(
      `${dispatchers} dispatcher(s): ${fmt(sent.accepted.length)} all terminal=${done.ok} in ${secs.toFixed(1)} s → ${fmt(rate)} msgs/s; duplicates ${st.duplicates}; binds ${st.binds}`,
    );
    details.push(
      `${dispatchers} dispatcher process(es): ${fmt(sent.accepted.length)} messages all terminal ${done.ok ? 'yes' : 'NO'} in ${secs.toFixed(1)} s: **${fmt(rate)} msgs/s**; simulator duplicates ${st.duplicates}, SMPP binds ${st.binds}, cap violations ${caps.length}; statuses ${JSON.stringify(done.counts)}`,
    );
    rows.push({
      scenario: `scale ${dispatchers} dispatcher${dispatchers > 1 ? 's' : ''}`,
      size: `${fmt(N)} msgs`,
      rate: `${fmt(rate)} msg/s`,
      target: '0 duplicates, all terminal',
      verdict: done.ok && st.duplicates === 0 && sim.sent.length >= sent.accepted.length ? 'pass' : 'FAIL',
      notes: `duplicates ${st.duplicates}`,
    });
    return rate;
  } finally {
    await stopRun({ engines: procs, sim, db, prefix });
  }
}

async function main() {
  let one: number | undefined;
  let two: number | undefined;
  for (const d of [1, 2]) {
    try {
      const r = await run(d);
      if (d === 1) one = r;
      else two = r;
    } catch (err) {
      log(`${d} dispatcher run failed:`, err);
      rows.push(failedRow(`scale ${d} dispatcher`, `${fmt(N)} msgs`, '0 duplicates', err));
    }
  }
  if (one && two) details.push(`two dispatchers / one: **${(two / one).toFixed(2)}×**`);
  emitResults('scale', rows, details);
}

runScenario(main, rows);
