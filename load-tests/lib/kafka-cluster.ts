// The three-broker KRaft cluster the chaos bench stops a broker of: started and stopped through
// scripts/stack.mjs on a port of its own (never the default broker), its brokers' pids, and whether
// a port answers.
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness';
import { portOpen } from './private-services';

export { portOpen };

export const CLUSTER_PORT = 19092;
export const CLUSTER_BROKERS = '127.0.0.1:19092,127.0.0.1:19102,127.0.0.1:19112';

export function brokerPid(id: number): number {
  return Number(
    readFileSync(
      path.join(ROOT, '.cache', 'kafka', `port-${CLUSTER_PORT}`, `broker-${id}`, 'broker.pid'),
      'utf8',
    ).trim(),
  );
}

/**
 * Not spawnSync: the simulator lives in this process, and a broker takes tens of seconds to start;
 * a blocked event loop left every submit_sm and enquire_link unanswered meanwhile (chaos e then
 * measured the frozen simulator, not the Kafka fault).
 */
export async function clusterUp(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'node',
      ['scripts/stack.mjs', 'up', '--brokers', '3'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, PARLEY_KAFKA_PORT: String(CLUSTER_PORT) },
        timeout: 180_000,
      },
      (err, stdout, stderr) =>
        resolve(`${stdout ?? ''}${stderr ?? ''}`.trim() + (err ? ` (${err.code ?? err.message})` : '')),
    );
  });
}

/** Stops the cluster; what scripts/stack.mjs printed. */
export function clusterDown(): string {
  const r = spawnSync('node', ['scripts/stack.mjs', 'down'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, PARLEY_KAFKA_PORT: String(CLUSTER_PORT) },
    timeout: 180_000,
  });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() + (r.status ? ` (exit ${r.status})` : '');
}
