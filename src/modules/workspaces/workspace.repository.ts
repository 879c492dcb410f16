// Workspaces and API keys in Postgres.
import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';

export interface Workspace {
  id: string;
  name: string;
}

@Injectable()
export class WorkspaceRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /** Creates the workspace or returns the existing one of that name. */
  async upsertByName(name: string): Promise<Workspace> {
    await this.db
      .insertInto('workspaces')
      .values({ name })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return this.db
      .selectFrom('workspaces')
      .select(['id', 'name'])
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
  }

  findById(id: string): Promise<Workspace | undefined> {
    return this.db.selectFrom('workspaces').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
  }

  findByName(name: string): Promise<Workspace | undefined> {
    return this.db
      .selectFrom('workspaces')
      .select(['id', 'name'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async settings(id: string): Promise<Record<string, unknown>> {
    const r = await this.db
      .selectFrom('workspaces')
      .select('settings')
      .where('id', '=', id)
      .executeTakeFirst();
    return r?.settings ?? {};
  }

  async saveSettings(id: string, settings: Record<string, unknown>): Promise<void> {
    await this.db
      .updateTable('workspaces')
      .set({ settings: JSON.stringify(settings) })
      .where('id', '=', id)
      .execute();
  }

  async insertKey(workspaceId: string, hash: string, prefix: string, label?: string): Promise<string> {
    const r = await this.db
      .insertInto('api_keys')
      .values({ workspace_id: workspaceId, key_hash: hash, prefix, label: label ?? null, revoked_at: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  findByKeyHash(hash: string): Promise<Workspace | undefined> {
    return this.db
      .selectFrom('api_keys as k')
      .innerJoin('workspaces as w', 'w.id', 'k.workspace_id')
      .select(['w.id', 'w.name'])
      .where('k.key_hash', '=', hash)
      .where('k.revoked_at', 'is', null)
      .executeTakeFirst();
  }
}
