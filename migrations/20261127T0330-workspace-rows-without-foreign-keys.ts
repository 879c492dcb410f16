// Contacts and the consent ledger (events and state) lose their foreign keys to workspaces. Each
// row an import writes fired a check of its workspace (a locking lookup of the same workspaces row):
// measured 25% of the database CPU of an import's move (about 5 s per million rows), while every
// writer takes the workspace id from the caller's authenticated API key or its own import row, so
// the check never refused anything. Deleting a workspace removes these rows explicitly, in its
// transaction (WorkspaceRepository.delete), as it already had to for memberships.
import { Kysely } from 'kysely';

const TABLES = ['contacts', 'consent_events', 'consent_state'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const t of TABLES) {
    await db.schema.alterTable(t).dropConstraint(`${t}_workspace_id_fkey`).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of TABLES) {
    await db.schema
      .alterTable(t)
      .addForeignKeyConstraint(`${t}_workspace_id_fkey`, ['workspace_id'], 'workspaces', ['id'])
      .onDelete('cascade')
      .execute();
  }
}
