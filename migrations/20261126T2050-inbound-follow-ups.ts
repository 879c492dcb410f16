// What the router still has to do for an inbound message after committing its row and its consent
// change (auto-replies, webhooks, inbox items, recorded responses). Written in the same transaction
// as the row and cleared once carried out; the router's sweep finishes what a stopped process left,
// while an MO the carrier offered twice is never decided twice.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('inbound_messages').addColumn('follow_ups', 'jsonb').execute();
  // The sweep looks only at rows still waiting (few, and briefly).
  await db.schema
    .createIndex('inbound_messages_follow_ups_idx')
    .on('inbound_messages')
    .column('created_at')
    .where(sql.ref('follow_ups'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('inbound_messages_follow_ups_idx').execute();
  await db.schema.alterTable('inbound_messages').dropColumn('follow_ups').execute();
}
