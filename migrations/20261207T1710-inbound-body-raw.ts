// An inbound text PostgreSQL or UTF-8 cannot hold as received (a NUL, an unpaired surrogate) is
// stored with those code points replaced visibly; the text as received is kept beside it, escaped,
// as evidence (messages/inbound-envelope.ts).
import { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('inbound_messages').addColumn('body_raw', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('inbound_messages').dropColumn('body_raw').execute();
}
