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
  cpuSecondsOf,
  createWorkspace,
  deleteTopics,
  engineLayout,
  hostCpu,
  log,
  now,
  numberAt,
  sleep,
  spawnEngines,
  startSimProcess,
  topicPrefix,
  watchdog,
} from '../lib/harness';

const { values } = parseArgs({ options: { n: { type: 'string', default: '400' }, rate: { type: 'string', default: '20' } } });
const N = Number(values.n);
const RATE = Number(values.rate);
watchdog(10 * 60_000);

async function main() {
  const db = await benchDb();
  const sim = await startSimProcess(benchCarriers({ alpha: 100_000, beta: 100_000 }), { seed: 31, receipt_delay_ms: { min: 5, max: 40 }, outcomes: { delivered: 1 } });
  const prefix = topicPrefix('trickle');
  const layout = engineLayout('split');
  const engines = await spawnEngines(layout, { PARLEY_CARRIERS_FILE: sim.file, KAFKA_TOPIC_PREFIX: prefix });
  try {
    const ws = await createWorkspace(db, 'bench-trickle');
    const api = new Api(engines[0].url, ws.key);
    await api.must('POST', '/v1/messages', { to: numberAt('+1202', N + 1), body: 'warm up' });
    await sleep(3_000);
    // Idle first: what the processes spend with nothing to do (timers, Kafka polls, heartbeats).
    const idle0 = engines.map((e) => cpuSecondsOf(e.proc.pid));
    const idleHost0 = hostCpu();
    await sleep(10_000);
    const idle = engines.map((e, i) => (cpuSecondsOf(e.proc.pid) - idle0[i]) / 10);
    const idleHost = (hostCpu().busy - idleHost0.busy) / 10;
    const c0 = engines.map((e) => cpuSecondsOf(e.proc.pid));
    const h0 = hostCpu();
    const t0 = now();
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const wait = t0 + (i * 1000) / RATE - now();
      if (wait > 0) await sleep(wait);
      sent.push(api.post('/v1/messages', { to: numberAt(i % 2 ? '+1303' : '+1202', i), body: `Order ${i} ships today` }));
    }
    await Promise.all(sent);
    await sleep(2_000);
    const secs = (now() - t0) / 1000;
    const perMsg = engines.map((e, i) => {
      const total = cpuSecondsOf(e.proc.pid) - c0[i];
      return `${layout[i].name} ${((total * 1000) / N).toFixed(1)} ms (idle share ${((idle[i] * secs * 1000) / N).toFixed(1)})`;
    });
    const host = hostCpu();
    log(`idle, CPU per second: ${engines.map((_, i) => `${layout[i].name} ${(idle[i] * 1000).toFixed(0)} ms`).join(', ')}; host ${(idleHost * 1000).toFixed(0)} ms`);
    log(`${N} single POSTs at ${RATE}/s, CPU per message: ${perMsg.join(', ')}; postgres ${(((host.services.postgres - h0.services.postgres) * 1000) / N).toFixed(1)} ms, kafka ${(((host.services.kafka - h0.services.kafka) * 1000) / N).toFixed(1)} ms; host busy ${(((host.busy - h0.busy) * 1000) / N).toFixed(1)} ms`);
  } finally {
    await Promise.all(engines.map((e) => e.kill('SIGTERM')));
    await sim.stop();
    await deleteTopics(prefix);
    await db.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
