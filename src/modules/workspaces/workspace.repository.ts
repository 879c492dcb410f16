// Workspaces in Postgres (their API keys: api-key.repository.ts).
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

  /**
   * Deletes a workspace and everything it owns, in one transaction. Foreign keys cascade to most
   * tables; the tables an import fills in bulk have none (a check per imported row costs more than
   * the row), so their rows go here, before the workspace row. The workspace row is locked first:
   * a writer that still holds a key of it is done or waits.
   */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const ws = await trx
        .selectFrom('workspaces')
        .select('id')
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!ws) return false;
      const audiences = trx.selectFrom('audiences').select('id').where('workspace_id', '=', id);
      const imports = trx.selectFrom('imports').select('id').where('workspace_id', '=', id);
      await trx.deleteFrom('audience_members').where('audience_id', 'in', audiences).execute();
      await trx.deleteFrom('import_rows').where('import_id', 'in', imports).execute();
      await trx.deleteFrom('contacts').where('workspace_id', '=', id).execute();
      await trx.deleteFrom('consent_state').where('workspace_id', '=', id).execute();
      await trx.deleteFrom('consent_events').where('workspace_id', '=', id).execute();
      await trx.deleteFrom('workspaces').where('id', '=', id).execute();
      return true;
    });
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
}
