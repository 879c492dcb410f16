// The built engine (`dist/src/main.js`) as its own process, on the test database: for tests that
// kill one, read what it prints at start, or run dispatchers split by topic beside an engine.
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { ParleyEnv } from '../../src/config/config.schema';
import { TEST_DATABASE_URL } from './env';

const ROOT = path.resolve(__dirname, '../..');

export interface EngineProcess {
  child: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

export function spawnEngineProcess(env: Record<string, string>): EngineProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/main.js')], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'test',
      PORT: '0',
      PARLEY_LOG_LEVEL: 'info',
      DATABASE_URL: TEST_DATABASE_URL,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

/** A dispatcher on the same topics and carriers file as a test's engine. */
export function spawnDispatcher(
  like: Pick<ParleyEnv, 'KAFKA_TOPIC_PREFIX' | 'KAFKA_OUTBOUND_PARTITIONS' | 'KAFKA_PARTITIONS'>,
  carriersFile: string,
  extra: Record<string, string> = {},
): EngineProcess {
  return spawnEngineProcess({
    PARLEY_ROLES: 'dispatcher',
    PARLEY_LOG_LEVEL: 'warn',
    PARLEY_MIGRATE_ON_START: 'false',
    KAFKA_TOPIC_PREFIX: like.KAFKA_TOPIC_PREFIX,
    KAFKA_OUTBOUND_PARTITIONS: String(like.KAFKA_OUTBOUND_PARTITIONS),
    KAFKA_PARTITIONS: String(like.KAFKA_PARTITIONS),
    PARLEY_CARRIERS_FILE: carriersFile,
    ...extra,
  });
}
