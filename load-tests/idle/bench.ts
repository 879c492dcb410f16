// Idle benchmark: what every role costs with no traffic. The services (PostgreSQL, Kafka, Redis)
// are measured alone first, then the engine is started in a layout (`all`: one process; `split`: as
// deploy/ runs it), bound to the simulator (so its SMPP keep-alives run), given a warm-up, and its
// processes and the services are measured again. Reported: the engine processes' CPU as a share of
// the host (every core), and what the services used above their own idle figure.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/idle/bench.js [--seconds 60] [--warmup 60] [--engines all,split]
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  CpuMeter,
  EngineProc,
  ResultRow,
  benchCarriers,
  emitResults,
  engineLayout,
  log,
  pidsByName,
  sleep,
  spawnEngines,
  startSimProcess,
  topicPrefix,
  watchdog,
} from '../lib/harness';
import { runEnv, runScenario, stopRun } from '../lib/bench-run';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '60' },
    engines: { type: 'string', default: 'all,split' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CORES = os.cpus().length;
/** The issue's bound: every role together, idle, under this share of the host. */
const TARGET_SHARE = 0.02;

/** CPU seconds per wall second of each named process and service over `seconds`. */
async function measure(processes: Record<string, number | undefined>, seconds: number) {
  const meter = new CpuMeter(processes);
  await sleep(seconds * 1000);
  const d = meter.since();
  const per = (v: number) => v / seconds;
  return {
    processes: Object.fromEntries(Object.entries(d.processes).map(([k, v]) => [k, per(v)])),
    services: Object.fromEntries(Object.entries(d.services).map(([k, v]) => [k, per(v)])),
    busy: per(d.busy),
  };
}

const share = (coresUsed: number) => `${((100 * coresUsed) / CORES).toFixed(2)} %`;

async function main() {
  watchdog((SECONDS * 3 + WARMUP * 2 + 180) * 1000);
  const rows: ResultRow[] = [];
  const details: string[] = [];
  log(`services alone: ${SECONDS} s`);
  const alone = await measure({}, SECONDS);
  details.push(
    `services alone, CPU per second: ${Object.entries(alone.services)
      .map(([k, v]) => `${k} ${share(v)}`)
      .join(', ')}; host busy ${share(alone.busy)} (of ${CORES} cores)`,
  );
  log(details[details.length - 1]);

  for (const kind of values.engines.split(',')) {
    const layout = engineLayout(kind);
    const prefix = topicPrefix('idle');
    const sim = await startSimProcess(benchCarriers({ alpha: 100, beta: 100 }), { seed: 5 });
    let engines: EngineProc[] = [];
    try {
      engines = await spawnEngines(layout, runEnv(sim, prefix));
      log(`${kind}: ${layout.map((l) => l.name).join(' | ')} started; warming up ${WARMUP} s`);
      await sleep(WARMUP * 1000);
      const m = await measure({ ...pidsByName(layout, engines), simulator: sim.pid }, SECONDS);
      const engineCores = layout.reduce((s, l) => s + (m.processes[l.name] ?? 0), 0);
      const extra = Object.fromEntries(
        Object.entries(m.services).map(([k, v]) => [k, Math.max(0, v - (alone.services[k] ?? 0))]),
      );
      const extraCores = Object.values(extra).reduce((s, v) => s + v, 0);
      const line =
        `${kind}: engine processes ${share(engineCores)} of the host (` +
        layout.map((l) => `${l.name} ${share(m.processes[l.name] ?? 0)}`).join(', ') +
        `); services above their idle: ${Object.entries(extra)
          .map(([k, v]) => `${k} ${share(v)}`)
          .join(', ')}; simulator ${share(m.processes.simulator ?? 0)}; host busy ${share(m.busy)}`;
      log(line);
      details.push(line);
      const total = engineCores + extraCores;
      rows.push({
        scenario: `idle ${kind}`,
        size: `${SECONDS} s`,
        rate: `${share(total)} of the host`,
        target: `< ${share(TARGET_SHARE * CORES)}`,
        verdict: total < TARGET_SHARE * CORES ? 'pass' : 'below target',
        notes: `engine ${share(engineCores)} + services above idle ${share(extraCores)}`,
      });
    } finally {
      await stopRun({ engines, sim, prefix });
    }
  }
  emitResults('idle', rows, details);
}

runScenario(main);
