// Campaigns (drafts with their launch plan, schedule, state and expansion checkpoint) and the
// responses recipients gave to them (confirmations, declines).
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('audience_id', 'uuid', (c) => c.notNull())
    .addColumn('segment_id', 'uuid')
    .addColumn('from_address', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('marketing','transactional')`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('draft'))
    .addColumn('schedule_at', 'timestamptz')
    .addColumn('quiet_hours', 'jsonb')
    .addColumn('validity_seconds', 'integer')
    .addColumn('max_segments_per_second', 'real')
    .addColumn('weight', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('reply_handlers', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('status_callback', 'text')
    .addColumn('plan', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('recipients', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('excluded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expanded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('checkpoint', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('launched_at', 'timestamptz')
    .addColumn('expanded_at', 'timestamptz')
    .addColumn('paused_at', 'timestamptz')
    .addColumn('canceled_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .execute();
  // A campaign's live rate counts its recent submits without scanning all its messages.
  await sql`create index messages_campaign_submitted_idx on messages (campaign_id, submitted_at) where campaign_id is not null`.execute(
    db,
  );
  await db.schema
    .createIndex('campaigns_workspace_idx')
    .on('campaigns')
    .columns(['workspace_id', 'created_at'])
    .execute();

  await db.schema
    .createTable('campaign_responses')
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('campaign_id', 'uuid', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('message_id', 'uuid', (c) => c.notNull())
    .addColumn('e164', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('confirmed','declined')`))
    .addColumn('inbound_id', 'uuid', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('campaign_responses_pk', ['campaign_id', 'message_id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('campaign_responses').execute();
  await db.schema.dropTable('campaigns').execute();
  await sql`drop index if exists messages_campaign_submitted_idx`.execute(db);
}
