// Diagnostic (not part of `npm run bench`): the CPU each engine process spends per message when
// messages come one at a time, as the campaign bench's transactional probe sends them (single
// POST /v1/messages at 20/s), on the split layout with the simulator in its own process. At this
// rate nothing is batched, so it shows the fixed cost of one message through every stage.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/send/trickle.js [--n 400] [--rate 20]
import { parseArgs } from 'node:util';
import {
  Api,
  benchCarriers,
  benchDb,
  CpuMeter,
  createWorkspace,
  engineLayout,
  log,
  pidsByName,
  now,
  numberAt,
  sleep,
  spawnEngines,
  startSimProcess,
  topicPrefix,
  watchdog,
} from '../lib/harness';
import { allDelivered, runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '400' }, rate: { type: 'string', default: '20' } },
});
const N = Number(values.n);
const RATE = Number(values.rate);
watchdog(10 * 60_000);

async function main() {
  const db = await benchDb();
  const sim = await startSimProcess(benchCarriers({ alpha: 100_000, beta: 100_000 }), allDelivered(31));
  const prefix = topicPrefix('trickle');
  const layout = engineLayout('split');
  const engines = await spawnEngines(layout, runEnv(sim, prefix));
  try {
    const ws = await createWorkspace(db, 'bench-trickle');
    const api = new Api(engines[0].url, ws.key);
    await api.must('POST', '/v1/messages', { to: numberAt('+1202', N + 1), body: 'warm up' });
    await sleep(3_000);
    // Idle first: what the processes spend with nothing to do (timers, Kafka polls, heartbeats).
    const meter = new CpuMeter(pidsByName(layout, engines));
    await sleep(10_000);
    const idle = meter.since();
    const perSecond = (s: number) => `${((s * 1000) / 10).toFixed(0)} ms`;
    meter.restart();
    const t0 = now();
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const wait = t0 + (i * 1000) / RATE - now();
      if (wait > 0) await sleep(wait);
      sent.push(
        api.post('/v1/messages', {
          to: numberAt(i % 2 ? '+1303' : '+1202', i),
          body: `Order ${i} ships today`,
        }),
      );
    }
    await Promise.all(sent);
    await sleep(2_000);
    const secs = (now() - t0) / 1000;
    const run = meter.since();
    const ms = (s: number) => ((s * 1000) / N).toFixed(1);
    const perMsg = Object.entries(run.processes).map(
      ([name, s]) => `${name} ${ms(s)} ms (idle share ${ms((idle.processes[name] / 10) * secs)})`,
    );
    log(
      `idle, CPU per second: ${Object.entries(idle.processes)
        .map(([name, s]) => `${name} ${perSecond(s)}`)
        .join(', ')}; host ${perSecond(idle.busy)}`,
    );
    log(
      `${N} single POSTs at ${RATE}/s, CPU per message: ${perMsg.join(', ')}; postgres ${ms(run.services.postgres)} ms, kafka ${ms(run.services.kafka)} ms; host busy ${ms(run.busy)} ms`,
    );
  } finally {
    await stopRun({ engines, sim, db, prefix });
  }
}

runScenario(main);
