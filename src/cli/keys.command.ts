import { parseEnv } from '../config/config.schema';
import { createDb } from '../infra/db/db';
import { migrateToLatest } from '../infra/db/migrator';
import { WorkspaceRepository } from '../modules/workspaces/workspace.repository';
import { WorkspaceService } from '../modules/workspaces/workspace.service';
import { CliCommand, UsageError, options } from './command';

export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'Create an API key for a workspace (created if needed); the key is printed once.',
  usage: 'create --workspace <name> [--label <text>] [--json]',
  async run(args) {
    const { values, positionals } = options(args, {
      workspace: { type: 'string' },
      label: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals[0] !== 'create') throw new UsageError('usage: parley keys create --workspace <name>');
    if (!values.workspace?.trim()) throw new UsageError('--workspace: a workspace name is required');
    const env = parseEnv(process.env);
    const db = createDb(env.DATABASE_URL, 2);
    try {
      await migrateToLatest(db);
      const svc = new WorkspaceService(new WorkspaceRepository(db));
      const { workspace, key } = await svc.createKey(values.workspace, values.label);
      if (values.json) console.log(JSON.stringify({ workspace, key }));
      else {
        console.log(`workspace ${workspace.name} (${workspace.id})`);
        console.log(`api key   ${key}`);
        console.error('This key is shown once; store it now.');
      }
      return 0;
    } finally {
      await db.destroy();
    }
  },
};
