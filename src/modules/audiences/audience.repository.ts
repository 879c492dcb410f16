// Audiences and their membership counts.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { Keyset, newestFirst, sortTime } from '../../infra/db/keyset';

export interface AudienceRow {
  id: string;
  name: string;
  created_at: Date;
}

export interface AudienceCounts {
  contacts: number;
  opted_in: number;
  opted_out: number;
}

@Injectable()
export class AudienceRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  create(workspaceId: string, name: string): Promise<AudienceRow> {
    return this.db
      .insertInto('audiences')
      .values({ workspace_id: workspaceId, name })
      .returning(['id', 'name', 'created_at'])
      .executeTakeFirstOrThrow();
  }

  find(workspaceId: string, id: string): Promise<AudienceRow | undefined> {
    return this.db
      .selectFrom('audiences')
      .select(['id', 'name', 'created_at'])
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Newest first, by (created_at, id); `sort_at` is created_at to the microsecond, for the cursor. */
  list(
    workspaceId: string,
    page: Keyset<readonly [string, string]>,
  ): Promise<(AudienceRow & { sort_at: string })[]> {
    const q = this.db
      .selectFrom('audiences')
      .select(['id', 'name', 'created_at', sortTime('created_at').as('sort_at')])
      .where('workspace_id', '=', workspaceId);
    return newestFirst(q, page).execute();
  }

  /** Members, and how many of them are opted in / out workspace-wide (the ledger's current state). */
  async counts(workspaceId: string, audienceId: string): Promise<AudienceCounts> {
    const r = await this.db
      .selectFrom('audience_members as m')
      .innerJoin('contacts as c', 'c.id', 'm.contact_id')
      .leftJoin('consent_state as s', (j) =>
        j
          .onRef('s.workspace_id', '=', 'c.workspace_id')
          .onRef('s.e164', '=', 'c.e164')
          .on('s.sender_address', '=', ''),
      )
      .select([
        sql<number>`count(*)::int`.as('contacts'),
        sql<number>`count(*) filter (where s.status = 'opted_in')::int`.as('opted_in'),
        sql<number>`count(*) filter (where s.status = 'opted_out')::int`.as('opted_out'),
      ])
      .where('m.audience_id', '=', audienceId)
      .where('m.workspace_id', '=', workspaceId)
      .executeTakeFirstOrThrow();
    return r;
  }
}
