// Once per integration run: the stack must answer (npm test ran stack:up), the engine is built
// (tests that start engine processes run dist/), and the test database is migrated to the latest.
import { execSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createDb } from '../src/infra/db/db';
import { migrateToLatest } from '../src/infra/db/migrator';
import { TEST_DATABASE_URL } from './support/env';

export default async function setup() {
  const root = path.resolve(__dirname, '..');
  execSync('node scripts/stack.mjs status', { cwd: root, stdio: 'pipe' });
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
