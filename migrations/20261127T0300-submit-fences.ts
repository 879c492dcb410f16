// Claims a crashed dispatcher never started can be taken over (invariant 1 without a second send,
// invariant 2). A claim is made in small units: each claimed message records the unit it was
// claimed in, and a unit is fenced once in `submit_fences` before any of its messages may leave
// (`released = false`: some may have left). A dispatcher that reads a message still `submitting`
// long after its claim may fence the unit as released (`released = true`) and claim it anew, but
// only if no start was recorded: whichever insert comes first wins, so a late original claimer
// finds its unit released and drops it, and a started unit is never claimed again.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('claim_unit', 'uuid').execute();
  await db.schema
    .createTable('submit_fences')
    .addColumn('unit', 'uuid', (c) => c.primaryKey())
    .addColumn('released', 'boolean', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`clock_timestamp()`))
    .execute();
  await db.schema.createIndex('submit_fences_at_idx').on('submit_fences').column('at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('submit_fences').execute();
  await db.schema.alterTable('messages').dropColumn('claim_unit').execute();
}
