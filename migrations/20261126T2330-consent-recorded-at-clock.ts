// A consent event's recorded_at is the moment its row is written, not the start of its transaction:
// the reply router writes a batch's inbound rows and opt-outs in one transaction, and the time an
// opt-out is shown as recorded should be as close to its commit as the database can say.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('consent_events')
    .alterColumn('recorded_at', (c) => c.setDefault(sql`clock_timestamp()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('consent_events')
    .alterColumn('recorded_at', (c) => c.setDefault(sql`now()`))
    .execute();
}
