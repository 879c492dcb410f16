// Kafka is the queue, PostgreSQL the record. A campaign message's row is written once, when a
// dispatcher takes it (expansion inserts nothing); status history is timestamps on the row (sent_at
// joins accepted_at, queued_at, submitted_at, final_at) and the outcome's detail (`outcome`), not
// an event row per transition; and updates are HOT: no index covers a column that changes after
// submit (status, final_at, error_code, outcome), so a receipt's update writes no index entry.
// `submitting_at` marks the few messages between the fence and the carrier's answer (what a crash
// leaves behind); the index on it is partial, and set back to null once the answer is stored.
//
// Exclusive sending comes from partition ownership: each dispatcher takes an epoch per partition
// when it is assigned one (`partition_leases`), and every fencing write checks it, so a process
// that lost its partitions (a zombie) can no longer take a message. Claim units and their fences
// are gone.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('messages')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('submitting_at', 'timestamptz')
    .addColumn('outcome', 'jsonb')
    .execute();
  await sql`update messages set submitting_at = updated_at where status = 'submitting'`.execute(db);
  // Room on each page for a row's next version, so its updates stay on the page (HOT).
  await sql`alter table messages set (fillfactor = 80)`.execute(db);
  await sql`alter table message_parts set (fillfactor = 80)`.execute(db);
  await db.schema.dropIndex('messages_campaign_status_idx').execute();
  await db.schema
    .createIndex('messages_campaign_idx')
    .on('messages')
    .column('campaign_id')
    .where(sql.ref('campaign_id'), 'is not', null)
    .execute();
  await db.schema.dropIndex('messages_submitting_idx').execute();
  await db.schema
    .createIndex('messages_submitting_at_idx')
    .on('messages')
    .column('submitting_at')
    .where(sql.ref('submitting_at'), 'is not', null)
    .execute();
  await db.schema.alterTable('messages').dropColumn('claim_unit').execute();
  await db.schema.dropTable('submit_fences').execute();

  await db.schema
    .createTable('partition_leases')
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('partition', 'integer', (c) => c.notNull())
    .addColumn('epoch', 'bigint', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('taken_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('partition_leases_pk', ['group_id', 'topic', 'partition'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('partition_leases').execute();
  await db.schema
    .createTable('submit_fences')
    .addColumn('unit', 'uuid', (c) => c.primaryKey())
    .addColumn('released', 'boolean', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema.createIndex('submit_fences_at_idx').on('submit_fences').column('at').execute();
  await db.schema.alterTable('messages').addColumn('claim_unit', 'uuid').execute();
  await db.schema.dropIndex('messages_submitting_at_idx').execute();
  await db.schema
    .createIndex('messages_submitting_idx')
    .on('messages')
    .column('updated_at')
    .where(sql.ref('status'), '=', 'submitting')
    .execute();
  await db.schema.dropIndex('messages_campaign_idx').execute();
  await db.schema
    .createIndex('messages_campaign_status_idx')
    .on('messages')
    .columns(['campaign_id', 'status'])
    .where(sql.ref('campaign_id'), 'is not', null)
    .execute();
  await sql`alter table message_parts reset (fillfactor)`.execute(db);
  await sql`alter table messages reset (fillfactor)`.execute(db);
  await db.schema
    .alterTable('messages')
    .dropColumn('outcome')
    .dropColumn('submitting_at')
    .dropColumn('sent_at')
    .execute();
}
