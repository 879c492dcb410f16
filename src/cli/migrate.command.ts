import { parseEnv } from '../config/config.schema';
import { createDb } from '../infra/db/db';
import { migrateDownAll, migrateToLatest } from '../infra/db/migrator';
import { CliCommand, options } from './command';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'Apply all pending migrations (or, with --down, revert every migration).',
  usage: '[--down]',
  async run(args) {
    const { values } = options(args, { down: { type: 'boolean' } });
    const env = parseEnv(process.env);
    const db = createDb(env.DATABASE_URL, 2);
    try {
      const r = values.down ? await migrateDownAll(db) : await migrateToLatest(db);
      const done = r.results ?? [];
      if (!done.length) console.log('migrations: nothing to do');
      for (const m of done)
        console.log(`migrations: ${m.direction === 'Up' ? 'applied' : 'reverted'} ${m.migrationName}`);
      return 0;
    } finally {
      await db.destroy();
    }
  },
};
