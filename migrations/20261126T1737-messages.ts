// The message store: one row per message (API, campaign, auto-reply), one row per carrier part once
// submitted (receipts are matched by the carrier's id), and the status events GET shows.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('messages')
    // Given by the caller: random for the API, deterministic for campaigns (re-expansion is a no-op).
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    // No foreign key: campaigns live in their own module and may be created after this table.
    .addColumn('campaign_id', 'uuid')
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('transactional', 'marketing')`))
    .addColumn('to_e164', 'text', (c) => c.notNull())
    .addColumn('sender', 'text', (c) => c.notNull())
    .addColumn('carrier_id', 'text')
    .addColumn('connector_id', 'text')
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('encoding', 'text', (c) => c.notNull())
    .addColumn('segments', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('accepted'))
    .addColumn('error_code', 'text')
    .addColumn('error_detail', 'text')
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status_callback', 'text')
    .addColumn('valid_until', 'timestamptz')
    .addColumn('accepted_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('queued_at', 'timestamptz')
    .addColumn('submitted_at', 'timestamptz')
    .addColumn('final_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('auto_reply', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  // Reply matching: the latest message to a customer from one of our senders (with or without the
  // workspace known), newest first.
  await db.schema
    .createIndex('messages_reply_match_idx')
    .on('messages')
    .expression(sql`to_e164, sender, accepted_at desc`)
    .execute();
  // A workspace's thread with one number (conversations) without scanning other tenants.
  await db.schema
    .createIndex('messages_workspace_to_idx')
    .on('messages')
    .columns(['workspace_id', 'to_e164', 'accepted_at'])
    .execute();
  await db.schema
    .createIndex('messages_campaign_status_idx')
    .on('messages')
    .columns(['campaign_id', 'status'])
    .where(sql.ref('campaign_id'), 'is not', null)
    .execute();
  // Reconciliation looks only at the few messages caught between claim and submit.
  await db.schema
    .createIndex('messages_submitting_idx')
    .on('messages')
    .column('updated_at')
    .where(sql.ref('status'), '=', 'submitting')
    .execute();

  await db.schema
    .createTable('message_parts')
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('part_index', 'integer', (c) => c.notNull())
    .addColumn('carrier_message_id', 'text', (c) => c.notNull())
    .addColumn('connector_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('submitted'))
    .addColumn('error_code', 'text')
    .addColumn('submitted_at', 'timestamptz', (c) => c.notNull())
    .addColumn('done_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('message_parts_pk', ['message_id', 'part_index'])
    // Receipts name only the connector and the carrier's id.
    .addUniqueConstraint('message_parts_carrier_id_uq', ['connector_id', 'carrier_message_id'])
    .execute();

  await db.schema
    .createTable('message_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('detail', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema
    .createIndex('message_events_message_idx')
    .on('message_events')
    .columns(['message_id', 'at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('message_events').execute();
  await db.schema.dropTable('message_parts').execute();
  await db.schema.dropTable('messages').execute();
}
