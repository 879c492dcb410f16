// Once per integration run: the stack must answer (npm test ran stack:up), the engine is built
// (tests that start engine processes run dist/), and the test database is migrated to the latest.
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createDb } from '../src/infra/db/db';
import { migrateToLatest } from '../src/infra/db/migrator';
import { TEST_DATABASE_URL } from './support/env';

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export default async function setup() {
  const root = path.resolve(__dirname, '..');
  // Only the services the suite uses (another cluster started beside them is none of its business).
  for (const [name, port] of [
    ['postgres', 5432],
    ['redis', 6379],
    ['kafka', 9092],
  ] as const) {
    if (!(await answers('127.0.0.1', port)))
      throw new Error(`${name} is not answering on 127.0.0.1:${port}; run npm run stack:up`);
  }
  // Emits even when some file does not typecheck (typecheck is its own CI step); only tests that
  // start engine processes need dist/.
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) console.warn(`build reported errors:\n${build.stdout.slice(0, 4000)}`);
  const db = createDb(TEST_DATABASE_URL, 2);
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
}
