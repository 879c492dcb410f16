// Imports: the job row with its counters and checkpoint, the staging rows the upload writes (by
// COPY, already normalized), and the refused rows the errors report reads.
import { Injectable } from '@nestjs/common';
import { Kysely, Selectable, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { ImportsTable } from './audiences.tables';
import { copyFrom } from '../../infra/db/pg-copy';
import { STAGING_COLUMNS } from './import-staging';

/** An import's job row as the table holds it. */
export type ImportRow = Selectable<ImportsTable>;

export interface ChunkOutcome {
  lastRow: number;
  imported: number;
  updated: number;
  duplicates: number;
  invalid: number;
}

export interface RefusedRow {
  row_no: number;
  phone: string | null;
  reason: string;
  detail: string | null;
}

/** What one staged batch held, counted when the job moves it. */
export interface StagedCounts {
  rows: number;
  invalid: number;
  duplicates: number;
}

const STAGING_COPY = `copy import_rows (${STAGING_COLUMNS.join(', ')}) from stdin`;

/** How long a batch's statement waits for a row another transaction holds (tuneBatchTransaction). */
export const BATCH_LOCK_TIMEOUT_MS = 15_000;

@Injectable()
export class ImportRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  async create(
    workspaceId: string,
    audienceId: string,
    format: string,
    defaultCountry: string | null,
  ): Promise<{ id: string; created_at: Date }> {
    return this.db
      .insertInto('imports')
      .values({
        workspace_id: workspaceId,
        audience_id: audienceId,
        format,
        default_country: defaultCountry,
        status: 'queued',
        received_at: null,
        error: null,
        started_at: null,
        finished_at: null,
      })
      .returning(['id', 'created_at'])
      .executeTakeFirstOrThrow();
  }

  /** Writes normalized rows read from the upload, as COPY text (one COPY; commits on return). */
  async stage(data: readonly Uint8Array[]): Promise<void> {
    if (data.length) await copyFrom(this.db, STAGING_COPY, data);
  }

  /** The whole upload is staged: from now on an empty read after the checkpoint means done. */
  async markReceived(importId: string, staged: number): Promise<void> {
    await this.db
      .updateTable('imports')
      .set({ received_at: sql`now()`, staged, total: staged })
      .where('id', '=', importId)
      .execute();
  }

  /** Rows staged so far (while the upload is still arriving), shown as the running total. */
  async markStagedSoFar(importId: string, staged: number): Promise<void> {
    await this.db.updateTable('imports').set({ staged, total: staged }).where('id', '=', importId).execute();
  }

  async discard(importId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('import_rows').where('import_id', '=', importId).execute();
      await trx.deleteFrom('imports').where('id', '=', importId).execute();
    });
  }

  find(workspaceId: string | undefined, importId: string): Promise<ImportRow | undefined> {
    let q = this.db.selectFrom('imports').selectAll().where('id', '=', importId);
    if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
    return q.executeTakeFirst();
  }

  async markRunning(importId: string): Promise<void> {
    await this.db
      .updateTable('imports')
      .set({
        status: 'running',
        started_at: sql`coalesce(started_at, now())`,
        error: null,
        finished_at: null,
      })
      .where('id', '=', importId)
      .where('status', 'in', ['queued', 'running'])
      .execute();
  }

  async markQueued(importId: string): Promise<boolean> {
    const r = await this.db
      .updateTable('imports')
      .set({ status: 'queued', error: null, finished_at: null })
      .where('id', '=', importId)
      .where('status', '=', 'failed')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async markFailed(importId: string, error: string): Promise<void> {
    await this.db
      .updateTable('imports')
      .set({ status: 'failed', error, finished_at: sql`now()` })
      .where('id', '=', importId)
      .where('status', '<>', 'completed')
      .execute();
  }

  async markCompleted(importId: string): Promise<void> {
    await this.db
      .updateTable('imports')
      .set({ status: 'completed', finished_at: sql`now()` })
      .where('id', '=', importId)
      .execute();
  }

  /**
   * Planner statistics of the tables an import fills (ANALYZE samples; seconds at most). One table
   * per connection, at once: the import's end waits for the slowest table, not for their sum.
   */
  async refreshStatistics(): Promise<void> {
    await Promise.all(
      ['contacts', 'audience_members', 'consent_state'].map((t) =>
        sql`analyze ${sql.table(t)}`.execute(this.db),
      ),
    );
  }

  /** Empties a finished import's staging rows (their outcome is in the counters now). */
  async dropStaging(importId: string): Promise<void> {
    await this.db.deleteFrom('import_rows').where('import_id', '=', importId).execute();
  }

  /**
   * The row number that ends a batch of `size` staged rows after `afterRow`; undefined when fewer
   * are staged (then `lastStagedRow` ends the final batch once the upload is received).
   */
  async batchEnd(importId: string, afterRow: number, size: number): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('import_rows')
      .select('row_no')
      .where('import_id', '=', importId)
      .where('row_no', '>', afterRow)
      .orderBy('row_no')
      .offset(size - 1)
      .limit(1)
      .executeTakeFirst();
    return r?.row_no;
  }

  async lastStagedRow(importId: string, afterRow: number): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('import_rows')
      .select((eb) => eb.fn.max('row_no').as('last'))
      .where('import_id', '=', importId)
      .where('row_no', '>', afterRow)
      .executeTakeFirst();
    return r?.last ?? undefined;
  }

  /**
   * Copies the refused rows of staged rows (afterRow, upTo] into the errors report and counts the
   * batch's refused rows and duplicates, in the batch's transaction.
   */
  async moveRefused(
    trx: Kysely<Database>,
    importId: string,
    workspaceId: string,
    afterRow: number,
    upTo: number,
  ) {
    const r = await sql<StagedCounts>`
      with b as (
        select row_no, e164, phone, reason, detail from import_rows
         where import_id = ${importId} and row_no > ${afterRow} and row_no <= ${upTo}
      ), errs as (
        insert into import_errors (import_id, workspace_id, row_no, phone, reason, detail)
        select ${importId}::uuid, ${workspaceId}::uuid, row_no, phone, reason, detail from b
         where reason is not null
        on conflict do nothing
      )
      select count(*)::int as rows,
             count(*) filter (where reason is not null)::int as invalid,
             count(*) filter (where reason is null and e164 is null)::int as duplicates
        from b`.execute(trx);
    return r.rows[0];
  }

  /**
   * The consent of the kept rows in (afterRow, upTo], as rows for the consent ledger's bulk append.
   * In number order, so the events' natural key and the state's key (both led by the number) are
   * written page by page: measured 15% less database CPU than file order.
   */
  stagedOptIns(importId: string, afterRow: number, upTo: number) {
    return sql<{ e164: string; source: string; evidence: string; occurred_at: Date }>`
      select e164, consent_source as source, 'import ' || import_id || ' row ' || row_no as evidence,
             opted_in_at as occurred_at
        from import_rows
       where import_id = ${importId} and row_no > ${afterRow} and row_no <= ${upTo}
         and e164 is not null and opted_in_at is not null
       order by e164`;
  }

  /**
   * Settings of a batch's transaction. The commit does not wait for the WAL flush: a database
   * crash can lose only whole batches, checkpoint included, and the job redoes exactly those. The
   * contacts upsert sorts a batch (about 10 MB for 50,000 rows) in memory, not in temp files.
   *
   * A lock wait gives up after BATCH_LOCK_TIMEOUT: a batch waits for the import's batch before it
   * in the job, not in the database, so a cycle through another import of the same numbers (its
   * batch waits for our later batch's rows, our earlier batch for its rows) is a deadlock the
   * database cannot see. Giving up fails that attempt; the job retries it. A wait that is not a
   * cycle lasts one batch of the other import, seconds.
   */
  async tuneBatchTransaction(trx: Kysely<Database>): Promise<void> {
    await sql`set local synchronous_commit = off`.execute(trx);
    await sql`set local work_mem = '64MB'`.execute(trx);
    await sql.raw(`set local lock_timeout = '${BATCH_LOCK_TIMEOUT_MS}ms'`).execute(trx);
  }

  /**
   * Holds the workspace for the batch's transaction, as the foreign keys did for every row: a
   * workspace being deleted (WorkspaceRepository.delete locks its row) waits for the batch, and a
   * batch after the deletion finds no workspace instead of writing rows nobody owns. Once a batch.
   */
  async holdWorkspace(trx: Kysely<Database>, workspaceId: string): Promise<boolean> {
    const r = await trx
      .selectFrom('workspaces')
      .select('id')
      .where('id', '=', workspaceId)
      .forKeyShare()
      .executeTakeFirst();
    return r !== undefined;
  }

  /** Adds a batch's outcome to the counters and moves the checkpoint, in the batch's transaction. */
  async commitChunk(trx: Kysely<Database>, importId: string, o: ChunkOutcome): Promise<void> {
    await trx
      .updateTable('imports')
      .set((eb) => ({
        checkpoint: o.lastRow,
        imported: eb('imported', '+', o.imported),
        updated: eb('updated', '+', o.updated),
        duplicates: eb('duplicates', '+', o.duplicates),
        invalid: eb('invalid', '+', o.invalid),
      }))
      .where('id', '=', importId)
      .execute();
  }

  errorsPage(workspaceId: string, importId: string, afterRow: number, limit: number): Promise<RefusedRow[]> {
    return this.db
      .selectFrom('import_errors')
      .select(['row_no', 'phone', 'reason', 'detail'])
      .where('workspace_id', '=', workspaceId)
      .where('import_id', '=', importId)
      .where('row_no', '>', afterRow)
      .orderBy('row_no')
      .limit(limit)
      .execute();
  }
}
