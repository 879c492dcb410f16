// The sender-scoped opt-outs among a workspace's consent state, indexed on their own. An import's
// opt-ins clear the sender-scoped opt-outs they outdate (ConsentRepository.appendOptIns); without
// this index each batch read every consent state row of the workspace to find the few that are
// sender-scoped opt-outs (a sequential scan of the table on a new workspace), so a batch cost grew
// with the ledger instead of with the batch. Import rows never match the predicate (workspace
// scope), so the index costs them nothing.
import { Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('consent_state_sender_opt_outs')
    .on('consent_state')
    .columns(['workspace_id', 'e164'])
    .where(sql<boolean>`sender_address <> '' and status = 'opted_out'`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('consent_state_sender_opt_outs').execute();
}
