// Inbound messages (every customer reply, with how it was classified, matched and handled) and
// the inbox of replies that need a person.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inbound_messages')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    // Null while no workspace could be determined (no message of ours matches and the sender is shared).
    .addColumn('workspace_id', 'uuid', (c) => c.references('workspaces.id').onDelete('cascade'))
    .addColumn('connector_id', 'text', (c) => c.notNull())
    .addColumn('from_e164', 'text', (c) => c.notNull())
    .addColumn('to_sender', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('carrier_message_id', 'text')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('intent', 'text', (c) => c.notNull())
    .addColumn('keyword', 'text')
    .addColumn('language', 'text', (c) => c.notNull())
    .addColumn('confidence', 'real', (c) => c.notNull())
    .addColumn('matched_message_id', 'uuid')
    .addColumn('campaign_id', 'uuid')
    .addColumn('actions', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('inbound_messages_thread_idx')
    .on('inbound_messages')
    .columns(['workspace_id', 'from_e164', 'received_at'])
    .execute();
  await db.schema
    .createIndex('inbound_messages_campaign_idx')
    .on('inbound_messages')
    .columns(['campaign_id', 'intent'])
    .execute();

  await db.schema
    .createTable('inbox_items')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('inbound_id', 'uuid', (c) => c.notNull().unique())
    .addColumn('customer', 'text', (c) => c.notNull())
    .addColumn('sender', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'uuid')
    .addColumn('message_id', 'uuid')
    .addColumn('intent', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('context', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('open'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('inbox_items_open_idx')
    .on('inbox_items')
    .columns(['workspace_id', 'status', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('inbox_items').execute();
  await db.schema.dropTable('inbound_messages').execute();
}
