// `parley keys`: create, list, revoke and rotate a workspace's API keys straight in the database.
// A new key (create, rotate) is printed once; lists show a key's 8-character prefix, never the key.
// A key revoked here stops working on every running process within 5 s (their check cache).
import { parseEnv } from '../config/config.schema';
import { createDb, Db } from '../infra/db/db';
import { migrateToLatest } from '../infra/db/migrator';
import { MAX_KEY_DAYS, KeyView, expiryOf, keyView } from '../modules/workspaces/api-key.dto';
import { ApiKeyRepository } from '../modules/workspaces/api-key.repository';
import { ApiKeyService } from '../modules/workspaces/api-key.service';
import { WorkspaceRepository } from '../modules/workspaces/workspace.repository';
import { WorkspaceService } from '../modules/workspaces/workspace.service';
import { CliCommand, UsageError, options } from './command';
import { isUuid } from '../infra/ids/uuid';
import { SHOWN_PREFIX_LENGTH } from '../modules/workspaces/api-key';

const USAGE = [
  'create --workspace <name> [--name <text>] [--expires-in-days <n>] [--json]',
  '       list --workspace <name> [--json]',
  '       revoke <id> [--json]',
  '       rotate <id> [--json]',
].join('\n');

export const keysCommand: CliCommand = {
  name: 'keys',
  summary: 'Create, list, revoke or rotate API keys; a new key is printed once.',
  usage: USAGE,
  async run(args) {
    const { values, positionals } = options(args, {
      workspace: { type: 'string' },
      name: { type: 'string' },
      label: { type: 'string' },
      'expires-in-days': { type: 'string' },
      json: { type: 'boolean' },
    });
    const [action, id] = positionals;
    const json = values.json === true;
    const needsWorkspace = () => {
      if (!values.workspace?.trim()) throw new UsageError('--workspace: a workspace name is required');
      return values.workspace.trim();
    };
    const needsId = () => {
      if (!id || !isUuid(id)) throw new UsageError(`usage: parley keys ${action} <id> (a key id, a UUID)`);
      return id;
    };
    let run: (db: Db) => Promise<number>;
    switch (action) {
      case 'create': {
        const workspace = needsWorkspace();
        const days = values['expires-in-days'];
        let expiresAt: Date | null = null;
        if (days !== undefined) {
          const n = Number(days);
          if (!Number.isInteger(n) || n < 1 || n > MAX_KEY_DAYS) {
            throw new UsageError(`--expires-in-days: a whole number of days, 1–${MAX_KEY_DAYS}`);
          }
          const e = expiryOf({ expires_in_days: n }, Date.now());
          expiresAt = 'expiresAt' in e ? e.expiresAt : null;
        }
        run = (db) => create(db, workspace, values.name ?? values.label, expiresAt, json);
        break;
      }
      case 'list': {
        const workspace = needsWorkspace();
        run = (db) => list(db, workspace, json);
        break;
      }
      case 'revoke':
      case 'rotate': {
        const keyId = needsId();
        run = (db) => (action === 'revoke' ? revoke(db, keyId, json) : rotate(db, keyId, json));
        break;
      }
      default:
        throw new UsageError(`usage: parley keys ${USAGE}`);
    }
    const env = parseEnv(process.env);
    const db = createDb(env.DATABASE_URL, 2);
    try {
      await migrateToLatest(db);
      return await run(db);
    } finally {
      await db.destroy();
    }
  },
};

function printNewKey(view: KeyView, key: string, workspace: { id: string; name: string }, json: boolean) {
  if (json) {
    console.log(JSON.stringify({ workspace, ...view, key }));
    return;
  }
  console.log(`workspace ${workspace.name} (${workspace.id})`);
  console.log(`key id    ${view.id}${view.name ? ` (${view.name})` : ''}`);
  if (view.expires_at) console.log(`expires   ${view.expires_at}`);
  console.log(`api key   ${key}`);
  console.error('This key is shown once; store it now.');
}

async function create(
  db: Db,
  workspace: string,
  name: string | undefined,
  expiresAt: Date | null,
  json: boolean,
) {
  const r = await WorkspaceService.on(db).createKey(workspace, name?.trim() || undefined, expiresAt);
  const keys = new ApiKeyRepository(db);
  const view = await keys.find(r.workspace.id, r.id);
  if (!view) throw new Error(`key ${r.id} vanished`);
  printNewKey(keyView(view), r.key, r.workspace, json);
  return 0;
}

async function list(db: Db, workspaceName: string, json: boolean) {
  const ws = await new WorkspaceRepository(db).findByName(workspaceName);
  if (!ws) {
    console.error(`parley: no workspace named "${workspaceName}"`);
    return 1;
  }
  const repo = new ApiKeyRepository(db);
  const views: KeyView[] = [];
  let after: readonly [string, string] | undefined;
  for (;;) {
    const rows = await repo.list(ws.id, { after, take: 500 });
    views.push(...rows.map(keyView));
    if (rows.length < 500) break;
    const last = rows[rows.length - 1];
    after = [last.sort_at, last.id];
  }
  if (json) {
    console.log(JSON.stringify({ workspace: ws, data: views }));
    return 0;
  }
  const now = Date.now();
  for (const k of views) {
    const state = k.revoked_at
      ? `revoked ${k.revoked_at}`
      : k.expires_at && Date.parse(k.expires_at) <= now
        ? `expired ${k.expires_at}`
        : `active${k.expires_at ? ` until ${k.expires_at}` : ''}`;
    console.log(
      [
        k.id,
        `${k.prefix}…`,
        k.name ?? '-',
        `created ${k.created_at}`,
        `last used ${k.last_used_at ?? 'never'}`,
        state,
      ].join('  '),
    );
  }
  if (!views.length) console.error(`workspace ${ws.name} has no API keys`);
  return 0;
}

async function revoke(db: Db, id: string, json: boolean) {
  const keys = new ApiKeyService(new ApiKeyRepository(db));
  const ws = await keys.workspaceOfKey(id);
  const r = ws && (await keys.revoke(ws, id));
  if (!r) {
    console.error(`parley: no API key ${id}`);
    return 1;
  }
  if (json) console.log(JSON.stringify(keyView(r)));
  else
    console.log(
      `revoked ${r.id} (${r.prefix.slice(0, SHOWN_PREFIX_LENGTH)}…) at ${keyView(r).revoked_at}; running processes refuse it within 5 s`,
    );
  return 0;
}

async function rotate(db: Db, id: string, json: boolean) {
  const keys = new ApiKeyService(new ApiKeyRepository(db));
  const wsId = await keys.workspaceOfKey(id);
  const ws = wsId ? await new WorkspaceRepository(db).findById(wsId) : undefined;
  const r = ws && (await keys.rotate(ws.id, id));
  if (!ws || !r) {
    console.error(`parley: no active API key ${id} (unknown or already revoked)`);
    return 1;
  }
  if (!json) console.error(`revoked ${id}; running processes refuse it within 5 s`);
  printNewKey(keyView(r.record), r.key, ws, json);
  return 0;
}
