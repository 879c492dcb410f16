// Contacts: one row per (workspace, E.164), written in bulk by imports and read one at a time.
import { Injectable } from '@nestjs/common';
import { Kysely, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { CONTACT_TEXT_COLUMNS } from './audiences.tables';

export const CONTACT_COLUMNS = [
  'id',
  ...CONTACT_TEXT_COLUMNS,
  'attributes',
  'created_at',
  'updated_at',
] as const;

@Injectable()
export class ContactRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Upserts the kept rows of a staged batch (rows (afterRow, upTo] of the import) and adds them to
   * the audience, in one statement. Each number is kept once per import (the receiving process
   * marks later occurrences as duplicates), so what comes back splits into inserted (xmax = 0) and
   * updated. Rows go in E.164 order, so the unique index is written page by page, not at random.
   * Measured per 50,000 new contacts: 0.77 s of database CPU, 0.9 s with one ON CONFLICT insert
   * for all memberships.
   */
  async upsertStaged(
    trx: Kysely<Database>,
    workspaceId: string,
    audienceId: string,
    importId: string,
    afterRow: number,
    upTo: number,
  ): Promise<{ inserted: number; updated: number }> {
    const r = await sql<{ inserted: number; updated: number }>`
      with up as (
        insert into contacts as c (workspace_id, e164, country, line_type, first_name, last_name, email,
                                   timezone, attributes, last_import_id)
        select ${workspaceId}::uuid, e164, country, line_type, first_name, last_name, email, timezone,
               attributes::jsonb, import_id
          from import_rows
         where import_id = ${importId} and row_no > ${afterRow} and row_no <= ${upTo} and e164 is not null
         order by e164
        on conflict (workspace_id, e164) do update set
          country = excluded.country,
          line_type = excluded.line_type,
          first_name = coalesce(excluded.first_name, c.first_name),
          last_name = coalesce(excluded.last_name, c.last_name),
          email = coalesce(excluded.email, c.email),
          timezone = coalesce(excluded.timezone, c.timezone),
          attributes = c.attributes || excluded.attributes,
          last_import_id = excluded.last_import_id,
          updated_at = now()
        returning c.id, (c.xmax = 0) as inserted
      ), new_members as (
        -- A contact this statement created has no membership yet: a plain insert, which checks
        -- the key once instead of twice (ON CONFLICT's probe, then the insert's own check).
        insert into audience_members (workspace_id, audience_id, contact_id)
        select ${workspaceId}::uuid, ${audienceId}::uuid, id from up where inserted
      ), members as (
        insert into audience_members (workspace_id, audience_id, contact_id)
        select ${workspaceId}::uuid, ${audienceId}::uuid, id from up where not inserted
        on conflict do nothing
      )
      select count(*) filter (where inserted)::int as inserted,
             count(*) filter (where not inserted)::int as updated
        from up`.execute(trx);
    return r.rows[0];
  }

  findByE164(workspaceId: string, e164: string) {
    return this.db
      .selectFrom('contacts')
      .select(CONTACT_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .where('e164', '=', e164)
      .executeTakeFirst();
  }

  async audiencesOf(workspaceId: string, contactId: number): Promise<string[]> {
    const r = await this.db
      .selectFrom('audience_members')
      .select('audience_id')
      .where('workspace_id', '=', workspaceId)
      .where('contact_id', '=', contactId)
      .execute();
    return r.map((x) => x.audience_id);
  }
}
