// Import staging holds rows already normalized by the receiving process (E.164 or the reason the
// row was refused), so the job moves them into contacts, memberships, consent and the errors report
// with a few set-based statements instead of reading them back. Staging is a transient buffer: an
// import whose upload was staged in the old shape cannot be resumed and must be uploaded again.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('import_rows').execute();
  // Unlogged and without foreign keys, as before: written once by COPY, read once, then deleted.
  await db.schema
    .createTable('import_rows')
    .modifyFront(sql`unlogged`)
    .addColumn('import_id', 'uuid', (c) => c.notNull())
    .addColumn('workspace_id', 'uuid', (c) => c.notNull())
    .addColumn('row_no', 'integer', (c) => c.notNull())
    // Set for a kept row; null for a refused one (which has reason and detail instead) and for a
    // later occurrence of a number the file already had (a duplicate: only its row number).
    .addColumn('e164', 'text')
    .addColumn('country', 'text')
    .addColumn('line_type', 'text')
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('email', 'text')
    .addColumn('timezone', 'text')
    .addColumn('attributes', 'text')
    // Set when the row carries consent: its time (or the import's) and its source.
    .addColumn('opted_in_at', 'timestamptz')
    .addColumn('consent_source', 'text')
    // The phone as written in the file, kept for the errors report of a refused row.
    .addColumn('phone', 'text')
    .addColumn('reason', 'text')
    .addColumn('detail', 'text')
    .addPrimaryKeyConstraint('import_rows_pk', ['import_id', 'row_no'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('import_rows').execute();
  await db.schema
    .createTable('import_rows')
    .modifyFront(sql`unlogged`)
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
}
