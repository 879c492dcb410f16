// What the scenario scripts share around their measurements: the size options, the carrier most of
// them run against (every message delivered, receipts 5–40 ms later), the settings that point a
// run's engines at its simulator and topics, tearing a run down, a run that threw as a result row,
// and how a script ends (its exit code from its rows).
import type { Db } from '../../src/infra/db/db';
import type { ScenarioInput } from '../../src/simulator/scenario';
import { EngineProc, ResultRow, deleteTopics, emitResults } from './harness';

/** `--full` (the size) or `--n N`, as sizeOf reads them. */
export const SIZE_OPTIONS = {
  full: { type: 'boolean', default: false },
  n: { type: 'string' },
} as const;

/** The simulator scenario of a throughput run: every message delivered, its receipt 5–40 ms later. */
export function allDelivered(seed: number): ScenarioInput {
  return { seed, receipt_delay_ms: { min: 5, max: 40 }, outcomes: { delivered: 1 } };
}

/** Engine settings for a run: its simulator's carriers file, its own topics, then `extra`. */
export function runEnv(
  sim: { file: string },
  prefix: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { PARLEY_CARRIERS_FILE: sim.file, KAFKA_TOPIC_PREFIX: prefix, ...extra };
}

/** Ends a run: its engines stopped, then its simulator, its database pool and its topics. */
export async function stopRun(run: {
  engines: EngineProc[];
  sim: { stop(): Promise<void> };
  db?: Db;
  prefix: string;
}): Promise<void> {
  await Promise.all(run.engines.map((e) => e.kill('SIGTERM')));
  await run.sim.stop();
  await run.db?.destroy();
  await deleteTopics(run.prefix);
}

/** A run that threw, as its result row. */
export function failedRow(scenario: string, size: string, target: string, err: unknown): ResultRow {
  return { scenario, size, rate: '-', target, verdict: 'FAIL', notes: String(err).slice(0, 200) };
}

/** Results a script emits once its main has ended, whether it finished or threw. */
export interface EmitAtEnd {
  /** The scenario name of the BENCH_RESULT line. */
  name: string;
  details: string[];
  /** The row a main that threw adds. */
  failed: (err: unknown) => ResultRow;
}

/**
 * Runs a script's `main`, then exits: 1 when it threw or one of `rows` failed, else 0. With `emit`,
 * the results are emitted before the exit (a main that threw adds its failed row first).
 */
export function runScenario(main: () => Promise<void>, rows: ResultRow[] = [], emit?: EmitAtEnd): void {
  main().then(
    () => {
      if (emit) emitResults(emit.name, rows, emit.details);
      process.exit(rows.some((r) => r.verdict === 'FAIL') ? 1 : 0);
    },
    (err) => {
      console.error(err);
      if (emit) {
        rows.push(emit.failed(err));
        emitResults(emit.name, rows, emit.details);
      }
      process.exit(1);
    },
  );
}
