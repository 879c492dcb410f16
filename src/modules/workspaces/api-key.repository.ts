// API keys in Postgres: only a key's SHA-256 hash and its first 8 characters are stored. Every
// query but `workspaceOfKey` (the CLI's, which names a key by id alone) takes the workspace id.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { Keyset, newestFirst, sortTime } from '../../infra/db/keyset';
import type { KeyAuth } from './api-key-auth-cache';
import type { KeyRecord } from './api-key.dto';

const COLUMNS = ['id', 'name', 'prefix', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'] as const;

export interface NewKey {
  hash: string;
  prefix: string;
  name: string | null;
  expiresAt: Date | null;
}

function rowOf(workspaceId: string, k: NewKey) {
  return {
    workspace_id: workspaceId,
    key_hash: k.hash,
    prefix: k.prefix,
    name: k.name,
    expires_at: k.expiresAt,
    revoked_at: null,
    last_used_at: null,
  };
}

@Injectable()
export class ApiKeyRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  insert(workspaceId: string, k: NewKey): Promise<KeyRecord> {
    return this.db
      .insertInto('api_keys')
      .values(rowOf(workspaceId, k))
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
  }

  /** The key of that hash if it works now: not revoked, not expired (by the database's clock). */
  async findUsable(hash: string): Promise<KeyAuth | undefined> {
    const r = await this.db
      .selectFrom('api_keys as k')
      .innerJoin('workspaces as w', 'w.id', 'k.workspace_id')
      .select(['k.id as key_id', 'k.expires_at', 'w.id', 'w.name'])
      .where('k.key_hash', '=', hash)
      .where('k.revoked_at', 'is', null)
      .where((eb) => eb.or([eb('k.expires_at', 'is', null), eb('k.expires_at', '>', sql<Date>`now()`)]))
      .executeTakeFirst();
    return r && { keyId: r.key_id, workspace: { id: r.id, name: r.name }, expiresAt: r.expires_at };
  }

  /** Newest first, by (created_at, id). */
  list(
    workspaceId: string,
    page: Keyset<readonly [string, string]>,
  ): Promise<(KeyRecord & { sort_at: string })[]> {
    const q = this.db
      .selectFrom('api_keys')
      .select([...COLUMNS, sortTime('created_at').as('sort_at')])
      .where('workspace_id', '=', workspaceId);
    return newestFirst(q, page).execute();
  }

  find(workspaceId: string, id: string): Promise<KeyRecord | undefined> {
    return this.db
      .selectFrom('api_keys')
      .select(COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Revokes the key (a second revoke keeps the first time); undefined when the workspace has none such. */
  async revoke(workspaceId: string, id: string): Promise<KeyRecord | undefined> {
    const r = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirst();
    return r;
  }

  /** Inserts the replacement and revokes the old key in one transaction; undefined if the old is gone or revoked. */
  async replace(workspaceId: string, oldId: string, k: NewKey): Promise<KeyRecord | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const old = await trx
        .updateTable('api_keys')
        .set({ revoked_at: sql<Date>`now()` })
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', oldId)
        .where('revoked_at', 'is', null)
        .returning('id')
        .executeTakeFirst();
      if (!old) return undefined;
      return trx
        .insertInto('api_keys')
        .values(rowOf(workspaceId, k))
        .returning(COLUMNS)
        .executeTakeFirstOrThrow();
    });
  }

  /** Records a use; writes nothing when the last recorded one is under a minute old (any process). */
  async touch(workspaceId: string, id: string): Promise<void> {
    await this.db
      .updateTable('api_keys')
      .set({ last_used_at: sql<Date>`now()` })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .where((eb) =>
        eb.or([
          eb('last_used_at', 'is', null),
          eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
        ]),
      )
      .execute();
  }

  /** The workspace a key belongs to (the CLI names keys by id alone). */
  async workspaceOfKey(id: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('api_keys')
      .select('workspace_id')
      .where('id', '=', id)
      .executeTakeFirst();
    return r?.workspace_id;
  }
}
