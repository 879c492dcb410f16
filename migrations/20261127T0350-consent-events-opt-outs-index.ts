// The ledger's listing index covers opt-outs only. GET /v1/opt-outs is the one query that filters
// events by kind, always kind = 'opt_out'; the others read a number's events through the natural
// key. Indexing every event by (workspace, kind, id) cost each imported opt-in an index entry (and
// its WAL) that no query reads: measured 7% of the database CPU of an import's consent statement.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('consent_events_opt_outs')
    .on('consent_events')
    .columns(['workspace_id', 'id'])
    .where(sql.ref('kind'), '=', 'opt_out')
    .execute();
  await db.schema.dropIndex('consent_events_kind_idx').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('consent_events_kind_idx')
    .on('consent_events')
    .columns(['workspace_id', 'kind', 'id'])
    .execute();
  await db.schema.dropIndex('consent_events_opt_outs').execute();
}
