// API keys get a lifecycle: a name (the old free-text `label`), an optional expiry, when each was
// last used (written at most once a minute per key) and revocation (the column existed but nothing
// wrote it). Keys stay stored only as a SHA-256 hash; `prefix` keeps the first 8 characters, which
// name a key in lists without giving away its secret.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_keys').renameColumn('label', 'name').execute();
  await db.schema
    .alterTable('api_keys')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('last_used_at', 'timestamptz')
    .execute();
  await sql`update api_keys set prefix = left(prefix, 8) where length(prefix) > 8`.execute(db);
  // The list of a workspace's keys, newest first, pages by (created_at, id).
  await db.schema.dropIndex('api_keys_workspace_idx').execute();
  await db.schema
    .createIndex('api_keys_workspace_created_idx')
    .on('api_keys')
    .columns(['workspace_id', 'created_at', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('api_keys_workspace_created_idx').execute();
  await db.schema.createIndex('api_keys_workspace_idx').on('api_keys').column('workspace_id').execute();
  await db.schema.alterTable('api_keys').dropColumn('last_used_at').dropColumn('expires_at').execute();
  await db.schema.alterTable('api_keys').renameColumn('name', 'label').execute();
}
