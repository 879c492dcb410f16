// Audiences, contacts (one per workspace and E.164 number), memberships, imports with their
// staging rows and refused rows, and saved segments.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audiences')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('audiences_workspace_idx').on('audiences').column('workspace_id').execute();

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('e164', 'text', (c) => c.notNull())
    .addColumn('country', 'text')
    .addColumn('line_type', 'text')
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('email', 'text')
    .addColumn('timezone', 'text')
    .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The import that last wrote the row: a later row of the same import is a duplicate.
    .addColumn('last_import_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('contacts_workspace_e164', ['workspace_id', 'e164'])
    .execute();

  // Memberships are written only by the import's upsert, with the ids its own RETURNING gave, so
  // foreign keys would check nothing new while costing a lookup each per imported row (about 40%
  // of the upsert). Whoever deletes a contact or an audience deletes its memberships too.
  await db.schema
    .createTable('audience_members')
    .addColumn('workspace_id', 'uuid', (c) => c.notNull())
    .addColumn('audience_id', 'uuid', (c) => c.notNull())
    .addColumn('contact_id', 'bigint', (c) => c.notNull())
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('audience_members_pk', ['audience_id', 'contact_id'])
    .execute();
  await db.schema
    .createIndex('audience_members_contact_idx')
    .on('audience_members')
    .column('contact_id')
    .execute();

  await db.schema
    .createTable('imports')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('audience_id', 'uuid', (c) => c.notNull().references('audiences.id').onDelete('cascade'))
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('default_country', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'completed', 'failed')`),
    )
    // Set when the whole upload is staged; the job may run before that, on the rows so far.
    .addColumn('received_at', 'timestamptz')
    .addColumn('staged', 'integer', (c) => c.notNull().defaultTo(0))
    // Last staged row number (file line) whose outcome is committed: a restarted job resumes after it.
    .addColumn('checkpoint', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('total', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('imported', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('duplicates', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('invalid', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('imports_workspace_idx').on('imports').column('workspace_id').execute();

  // Staging: rows as read from the upload, before normalization; emptied when the import ends.
  // Unlogged: a transient buffer written and read once, so it skips the WAL. A database crash
  // empties it; the job notices the missing rows and fails the import instead of finishing short.
  await db.schema
    .createTable('import_rows')
    .modifyFront(sql`unlogged`)
    // No foreign keys: a check per staged row doubles the cost of staging; the import's own code
    // deletes its rows when it completes or is discarded.
    .addColumn('import_id', 'uuid', (c) => c.notNull())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull())
    .addColumn('row_no', 'integer', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('country', 'text')
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('email', 'text')
    .addColumn('timezone', 'text')
    .addColumn('opted_in_at', 'text')
    .addColumn('consent_source', 'text')
    .addColumn('attributes', 'text')
    .addColumn('malformed', 'text')
    .addPrimaryKeyConstraint('import_rows_pk', ['import_id', 'row_no'])
    .execute();

  await db.schema
    .createTable('import_errors')
    .addColumn('import_id', 'uuid', (c) => c.notNull().references('imports.id').onDelete('cascade'))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull())
    .addColumn('row_no', 'integer', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addPrimaryKeyConstraint('import_errors_pk', ['import_id', 'row_no'])
    .execute();

  await db.schema
    .createTable('segments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('workspace_id', 'uuid', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('audience_id', 'uuid', (c) => c.notNull().references('audiences.id').onDelete('cascade'))
    .addColumn('name', 'text')
    .addColumn('filter', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('segments_workspace_idx').on('segments').column('workspace_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'segments',
    'import_errors',
    'import_rows',
    'imports',
    'audience_members',
    'contacts',
    'audiences',
  ]) {
    await db.schema.dropTable(t).execute();
  }
}
