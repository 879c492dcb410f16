// Receipts are matched by a key per connector (receipt-id.ts), among parts still open. A carrier
// id is no longer unique per connector: SMSCs that number messages 1, 2, 3 start again after a
// restart, and counters wrap, so the same id names a new message while an old one keeps it; the
// receipts role picks among the parts with the key that are still open (status on the row). The
// index holds only columns that never change, so a receipt's update of its part stays HOT (an index
// on open parts alone would make every final update write new entries in every index).
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('message_parts').addColumn('receipt_key', 'text').execute();
  // Parts stored before this were matched as they were given (`as_is`).
  await sql`update message_parts set receipt_key = coalesce(nullif(ltrim(lower(trim(carrier_message_id)), '0'), ''), '0')`.execute(
    db,
  );
  await sql`alter table message_parts alter column receipt_key set not null`.execute(db);
  await db.schema.alterTable('message_parts').dropConstraint('message_parts_carrier_id_uq').execute();
  await db.schema
    .createIndex('message_parts_receipt_key_idx')
    .on('message_parts')
    .columns(['connector_id', 'receipt_key'])
    .execute();
  await db.schema.alterTable('unapplied_receipts').addColumn('recipient', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('unapplied_receipts').dropColumn('recipient').execute();
  await db.schema.dropIndex('message_parts_receipt_key_idx').execute();
  await db.schema
    .alterTable('message_parts')
    .addUniqueConstraint('message_parts_carrier_id_uq', ['connector_id', 'carrier_message_id'])
    .execute();
  await db.schema.alterTable('message_parts').dropColumn('receipt_key').execute();
}
