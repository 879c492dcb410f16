// A Kafka cluster of a test file's own (KRaft brokers on a base port other than the shared
// broker's, started by the project's stack script), for tests that move partitions between
// brokers: the shared broker on 9092 is never touched.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export interface KafkaCluster {
  /** The bootstrap list, as KAFKA_BROKERS takes it. */
  brokers: string;
  /** Stops every broker of the cluster and deletes its data. */
  down(): Promise<void>;
}

function stack(command: string, basePort: number, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'node',
      ['scripts/stack.mjs', command, ...args],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, PARLEY_KAFKA_PORT: String(basePort) },
        timeout: 180_000,
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`stack ${command}: ${stdout}${stderr}`)) : resolve(stdout),
    ),
  );
}

export async function startKafkaCluster(basePort: number, brokers = 3): Promise<KafkaCluster> {
  const home = path.join(ROOT, '.cache', 'kafka', `port-${basePort}`);
  const portOf = (id: number) => basePort + (id - 1) * 10;
  // Data of an earlier run (topics of old prefixes) only slows the brokers' start.
  await stack('down', basePort).catch(() => undefined);
  rmSync(home, { recursive: true, force: true });
  await stack('up', basePort, ['--brokers', String(brokers)]);
  return {
    brokers: Array.from({ length: brokers }, (_, i) => `127.0.0.1:${portOf(i + 1)}`).join(','),
    async down() {
      await stack('down', basePort);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
