// Runs the kysely migrations in /migrations. Migrations are found by reading the folder beside
// the running code (TypeScript under tests, compiled JavaScript under dist) and imported by our own
// code, so the same provider works in both.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Kysely, Migration, MigrationProvider, MigrationResultSet, Migrator } from 'kysely';

export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', '..', 'migrations');

export class FolderMigrationProvider implements MigrationProvider {
  constructor(private readonly dir = MIGRATIONS_DIR) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await fs.readdir(this.dir))
      .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('index.'))
      .sort();
    const out: Record<string, Migration> = {};
    for (const f of files) {
      const name = f.replace(/\.(js|ts)$/, '');
      if (out[name]) continue;
      const mod = await import(path.join(this.dir, f));
      const m = (mod.up ? mod : mod.default) as Migration;
      if (typeof m?.up !== 'function') throw new Error(`migration ${f} exports no up()`);
      out[name] = m;
    }
    return out;
  }
}

export function migrator<DB>(db: Kysely<DB>): Migrator {
  // Modules land migrations in parallel; one timestamped earlier than an applied one still runs.
  return new Migrator({ db, provider: new FolderMigrationProvider(), allowUnorderedMigrations: true });
}

function check(r: MigrationResultSet): MigrationResultSet {
  if (r.error) {
    const failed = r.results?.find((x) => x.status === 'Error');
    const e = r.error instanceof Error ? r.error : new Error(String(r.error));
    e.message = `migration ${failed?.migrationName ?? '?'} failed: ${e.message}`;
    throw e;
  }
  return r;
}

export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationResultSet> {
  return check(await migrator(db).migrateToLatest());
}

export async function migrateDownAll<DB>(db: Kysely<DB>): Promise<MigrationResultSet> {
  const { NO_MIGRATIONS } = await import('kysely');
  return check(await migrator(db).migrateTo(NO_MIGRATIONS));
}
