// Receipts: receipts parked until their message's carrier id is stored, each workspace's signing
// secrets for status callbacks, and the callback outbox that delivers them in order per message.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('parked_receipts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // A receipt names only a connector and a carrier id, so its workspace is unknown until the
    // receipt matches a message part; it is filled then and the row kept a while as the record.
    .addColumn('workspace_id', 'uuid', (c) => c.references('workspaces.id').onDelete('cascade'))
    .addColumn('connector_id', 'text', (c) => c.notNull())
    .addColumn('carrier_message_id', 'text', (c) => c.notNull())
    // Makes parking idempotent when Kafka redelivers the same receipt.
    .addColumn('receipt_key', 'text', (c) => c.notNull().unique())
    .addColumn('envelope', 'jsonb', (c) => c.notNull())
    .addColumn('parked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('matched_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('parked_receipts_due_idx')
    .on('parked_receipts')
    .column('next_attempt_at')
    .where(sql.ref('matched_at'), 'is', null)
    .execute();

  // Receipts kept but not applied: a state no mapping knows, or no carrier id to match by. Kept
  // with the raw text so an operator (or a later mapping) can act on them; never dropped.
  await db.schema
    .createTable('unapplied_receipts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // Known once the receipt matched a message; null for a receipt that names no message.
    .addColumn('workspace_id', 'uuid', (c) => c.references('workspaces.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid')
    .addColumn('connector_id', 'text')
    .addColumn('carrier_message_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('stat', 'text')
    .addColumn('raw', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('unapplied_receipts_message_idx')
    .on('unapplied_receipts')
    .columns(['workspace_id', 'message_id'])
    .execute();

  await db.schema
    .createTable('webhook_secrets')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // Null while current; a rotated secret keeps signing until this time.
    .addColumn('expires_at', 'timestamptz')
    .execute();
  // One current secret per workspace, so two concurrent first reads cannot create two.
  await db.schema
    .createIndex('webhook_secrets_current_uq')
    .on('webhook_secrets')
    .column('workspace_id')
    .unique()
    .where(sql.ref('expires_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('status_callbacks')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid', (c) => c.notNull())
    // One callback per status change, even when the change is reported twice (redelivery).
    .addColumn('event_key', 'text', (c) => c.notNull().unique())
    .addColumn('url', 'text', (c) => c.notNull())
    // The exact bytes signed and sent, so every retry carries the same body.
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .defaultTo('pending')
        .check(sql`state in ('pending', 'delivered', 'abandoned', 'refused')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_status_code', 'integer')
    .addColumn('locked_until', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('status_callbacks_pending_idx')
    .on('status_callbacks')
    .columns(['message_id', 'id'])
    .where(sql.ref('state'), '=', 'pending')
    .execute();
  await db.schema
    .createIndex('status_callbacks_workspace_idx')
    .on('status_callbacks')
    .columns(['workspace_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('status_callbacks').execute();
  await db.schema.dropTable('webhook_secrets').execute();
  await db.schema.dropTable('unapplied_receipts').execute();
  await db.schema.dropTable('parked_receipts').execute();
}
