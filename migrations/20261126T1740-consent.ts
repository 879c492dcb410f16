// The consent ledger: append-only events per (workspace, number) and the current state derived
// from them, kept in the same transaction so a dispatch-time check is one indexed query.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('consent_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('e164', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('opt_in', 'opt_out')`))
    .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('workspace', 'sender')`))
    // '' for workspace scope, so the natural key below needs no expression index.
    .addColumn('sender_address', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text')
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('recorded_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'consent_events_sender_scope',
      sql`(scope = 'workspace' and sender_address = '') or (scope = 'sender' and sender_address <> '')`,
    )
    .execute();
  // The same event recorded twice (an import retried, a webhook redelivered) is one event.
  await db.schema
    .createIndex('consent_events_natural_key')
    .on('consent_events')
    .columns(['workspace_id', 'e164', 'kind', 'scope', 'sender_address', 'source', 'occurred_at'])
    .unique()
    .execute();
  await db.schema
    .createIndex('consent_events_kind_idx')
    .on('consent_events')
    .columns(['workspace_id', 'kind', 'id'])
    .execute();

  // One row per (number, scope key): '' is the workspace scope, otherwise a sender address.
  await db.schema
    .createTable('consent_state')
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('e164', 'text', (c) => c.notNull())
    .addColumn('sender_address', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('opted_in', 'opted_out')`))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('consent_state_pk', ['workspace_id', 'e164', 'sender_address'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('consent_state').execute();
  await db.schema.dropTable('consent_events').execute();
}
