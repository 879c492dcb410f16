// Imports: the job row with its counters and checkpoint, the staging rows the upload writes, and
// the refused rows the errors report reads.
import { Injectable } from '@nestjs/common';
import { Kysely, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { ImportStatus } from './audiences.tables';
import type { StagedRow } from './import-row';
import { intArray, textArray } from '../../infra/db/pg-array';

export interface ImportRow {
  id: string;
  workspace_id: string;
  audience_id: string;
  format: string;
  default_country: string | null;
  status: ImportStatus;
  received_at: Date | null;
  staged: number;
  checkpoint: number;
  total: number;
  imported: number;
  updated: number;
  duplicates: number;
  invalid: number;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

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

const STAGED_COLUMNS = [
  'row_no',
  'phone',
  'country',
  'first_name',
  'last_name',
  'email',
  'timezone',
  'opted_in_at',
  'consent_source',
  'attributes',
  'malformed',
] as const;

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
  ): Promise<string> {
    const r = await this.db
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
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  }

  /** Writes a batch of rows read from the upload (one multi-row insert from arrays). */
  async stage(importId: string, workspaceId: string, rows: StagedRow[]): Promise<void> {
    if (!rows.length) return;
    const col = (k: Exclude<keyof StagedRow, 'row_no'>) => textArray(rows.map((r) => r[k]));
    // Staging is a buffer the job re-reads, not a record: no need to wait for the WAL flush.
    await this.db.transaction().execute(async (trx) => {
      await sql`set local synchronous_commit = off`.execute(trx);
      await sql`
      insert into import_rows (import_id, workspace_id, row_no, phone, country, first_name, last_name, email,
                               timezone, opted_in_at, consent_source, attributes, malformed)
      select ${importId}::uuid, ${workspaceId}::uuid, * from unnest(
        ${intArray(rows.map((r) => r.row_no))}::int[], ${col('phone')}::text[], ${col('country')}::text[],
        ${col('first_name')}::text[], ${col('last_name')}::text[], ${col('email')}::text[],
        ${col('timezone')}::text[], ${col('opted_in_at')}::text[], ${col('consent_source')}::text[],
        ${col('attributes')}::text[], ${col('malformed')}::text[])
      on conflict do nothing`.execute(trx);
    });
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

  /** Empties a finished import's staging rows (their outcome is in the counters now). */
  async dropStaging(importId: string): Promise<void> {
    await this.db.deleteFrom('import_rows').where('import_id', '=', importId).execute();
  }

  /** The next staged rows after the checkpoint, in file order. */
  nextChunk(importId: string, afterRow: number, limit: number): Promise<StagedRow[]> {
    return this.db
      .selectFrom('import_rows')
      .select(STAGED_COLUMNS)
      .where('import_id', '=', importId)
      .where('row_no', '>', afterRow)
      .orderBy('row_no')
      .limit(limit)
      .execute();
  }

  async insertErrors(
    trx: Kysely<Database>,
    importId: string,
    workspaceId: string,
    rows: RefusedRow[],
  ): Promise<void> {
    if (!rows.length) return;
    await sql`
      insert into import_errors (import_id, workspace_id, row_no, phone, reason, detail)
      select ${importId}::uuid, ${workspaceId}::uuid, * from unnest(
        ${intArray(rows.map((r) => r.row_no))}::int[], ${textArray(rows.map((r) => r.phone))}::text[],
        ${textArray(rows.map((r) => r.reason))}::text[], ${textArray(rows.map((r) => r.detail))}::text[])
      on conflict do nothing`.execute(trx);
  }

  /**
   * Adds a chunk's outcome to the counters and moves the checkpoint, in the chunk's transaction.
   * The commit does not wait for the WAL flush: a database crash can lose only whole chunks,
   * checkpoint included, and the job redoes exactly those.
   */
  async commitChunk(trx: Kysely<Database>, importId: string, o: ChunkOutcome): Promise<void> {
    await sql`set local synchronous_commit = off`.execute(trx);
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
