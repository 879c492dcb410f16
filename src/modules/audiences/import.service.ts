// Imports end to end. Receiving: the upload is read chunk by chunk, its records normalized (or
// refused with their reasons) on worker threads a batch at a time, checked in file order against
// the numbers the file already had, and COPYed to staging as they arrive (never held whole); the
// job is queued at once. Processing (scheduler role), while the upload may still arrive: staged
// rows move a batch at a time (two under way at once) with a few set-based statements; each
// batch's contacts, memberships, refused rows, consent events, counters and checkpoint commit
// together, after the batch before it, so a restarted job resumes exactly where the last one
// stopped and nothing is counted or written twice.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Readable } from 'node:stream';
import { ConfigService } from '../../config/config.service';
import { ApiError } from '../../infra/http/api-error';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { InOrderRunner } from '../../infra/workers/in-order';
import { WorkerPool, workerScript } from '../../infra/workers/worker-pool';
import { ConsentRepository } from '../consent/consent.repository';
import { AudienceRepository } from './audience.repository';
import { ContactRepository } from './contact.repository';
import { CsvRecordReader, NdjsonRecordReader, RawRecord, csvFields } from './import-records';
import { ImportFormatError, mapHeader } from './import-row';
import {
  ImportContext,
  RecordBatch,
  RecordBatcher,
  StagedRecords,
  StagingBatch,
  keepFirst,
  stageRecords,
} from './import-staging';
import { ImportRepository, ImportRow } from './import.repository';
import { NumberSet } from './number-set';

export const IMPORTS_QUEUE = 'imports';
export type ImportFormat = 'csv' | 'ndjson';

/** Rows per staging COPY while reading the upload. */
const STAGE_BATCH = 20_000;
/** Records per message to a normalizing thread. */
const NORMALIZE_BATCH = 5_000;
/** Batches being normalized at once (queued on the threads) before the upload waits. */
const NORMALIZE_IN_FLIGHT = 4;
/** Rows per processing transaction. */
const MOVE_BATCH = 50_000;
/**
 * Batches moved at once, each in its own transaction on its own connection: one statement uses one
 * core of the database, and the batches of one import never touch the same rows (a number is kept
 * once per file).
 */
const MOVES_IN_FLIGHT = 2;
/** New contacts from one import above which the tables' planner statistics are refreshed. */
const ANALYZE_AFTER_IMPORTED = 5_000;
/** How long the job waits for more rows while the upload is still arriving. */
const WAIT_FOR_ROWS_MS = 50;
/** An upload that adds no rows for this long is abandoned (the receiving process died). */
const UPLOAD_STALL_MS = 5 * 60_000;

/** Retrying cannot help: the staged rows are gone. */
export class StagingLostError extends Error {}

export interface ImportJson {
  id: string;
  audience_id: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  format: string;
  default_country: string | null;
  total: number;
  processed: number;
  imported: number;
  updated: number;
  duplicates: number;
  invalid: number;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export function importJson(r: ImportRow): ImportJson {
  return {
    id: r.id,
    audience_id: r.audience_id,
    status: r.status,
    format: r.format,
    default_country: r.default_country,
    total: r.total,
    processed: r.imported + r.updated + r.duplicates + r.invalid,
    imported: r.imported,
    updated: r.updated,
    duplicates: r.duplicates,
    invalid: r.invalid,
    error: r.error,
    created_at: r.created_at.toISOString(),
    started_at: r.started_at?.toISOString() ?? null,
    finished_at: r.finished_at?.toISOString() ?? null,
  };
}

@Injectable()
export class ImportService implements OnModuleDestroy {
  private readonly rowsCounter;
  private pool?: { run(batch: RecordBatch): Promise<StagedRecords>; close(): Promise<void> };

  constructor(
    private readonly config: ConfigService,
    private readonly imports: ImportRepository,
    private readonly contacts: ContactRepository,
    private readonly audiences: AudienceRepository,
    private readonly consent: ConsentRepository,
    @InjectQueue(IMPORTS_QUEUE) private readonly queue: Queue,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.rowsCounter = metrics.counter(METRICS.importRows.name, 'Import rows processed, by outcome.', [
      ...METRICS.importRows.labels,
    ]);
  }

  /**
   * Reads the upload into staging while the job (queued at once) already processes what has
   * arrived; answers when the whole body is staged. 400 for a file with nothing to import.
   */
  async receive(
    workspaceId: string,
    audienceId: string,
    format: ImportFormat,
    defaultCountry: string | null,
    body: Readable,
  ): Promise<ImportJson> {
    if (!(await this.audiences.find(workspaceId, audienceId))) {
      body.resume();
      throw ApiError.notFound('audience', audienceId);
    }
    const { id, created_at } = await this.imports.create(workspaceId, audienceId, format, defaultCountry);
    await this.enqueue(id);
    let staged: number;
    try {
      staged = await this.stageUpload(id, workspaceId, format, defaultCountry ?? undefined, created_at, body);
    } catch (e) {
      body.resume();
      if (e instanceof ImportFormatError) {
        // Refused before any row was staged: the import never existed as far as the caller knows.
        await this.imports.discard(id);
        throw ApiError.badRequest(`body: ${e.message}`, { field: e.field }, 'invalid_file');
      }
      const reason = e instanceof Error ? e.message : String(e);
      await this.imports.markFailed(id, `the upload did not finish: ${reason}`);
      throw e;
    }
    await this.imports.markReceived(id, staged);
    return importJson((await this.imports.find(workspaceId, id))!);
  }

  private async stageUpload(
    id: string,
    workspaceId: string,
    format: ImportFormat,
    defaultCountry: string | undefined,
    importedAt: Date,
    body: Readable,
  ) {
    const reader = format === 'csv' ? new CsvRecordReader() : new NdjsonRecordReader();
    let context: ImportContext | undefined =
      format === 'ndjson'
        ? { importId: id, workspaceId, format, defaultCountry, importedAt: +importedAt }
        : undefined;
    const records = new RecordBatcher();
    // Every number the file has kept so far, as digits (E.164 has at most 15, exact in a double):
    // the first occurrence wins, later ones are duplicates. 32 MB for a million.
    const kept = new NumberSet();
    const duplicates = new StagingBatch(id, workspaceId);
    const duplicateRow = (rowNo: number) => {
      duplicates.addDuplicate(rowNo);
      return duplicates.take();
    };
    let pending: Uint8Array[] = [];
    let pendingRows = 0;
    let staged = 0;
    let sawAnything = false;
    // One COPY is in flight while the next batch is gathered; with the batches being normalized
    // this bounds memory and slows the upload to the database's pace.
    let copying: Promise<void> | undefined;
    const flush = async () => {
      await copying;
      if (!pendingRows) return;
      const data = pending;
      staged += pendingRows;
      const soFar = staged;
      pending = [];
      pendingRows = 0;
      copying = this.imports.stage(data).then(async () => {
        // The running total a progress bar shows while the upload is still arriving.
        await this.imports.markStagedSoFar(id, soFar);
      });
      copying.catch(() => undefined); // awaited by the next flush
    };
    // Batches are normalized on the worker threads, several at once, and staged in file order.
    const batches = new InOrderRunner(
      (batch: RecordBatch) => this.normalizer().run(batch),
      NORMALIZE_IN_FLIGHT,
      async (rows: StagedRecords) => {
        pending.push(...keepFirst(rows, kept, duplicateRow).data);
        pendingRows += rows.rows;
        if (pendingRows >= STAGE_BATCH) await flush();
      },
    );
    const take = async (read: RawRecord[]) => {
      for (const r of read) {
        sawAnything = true;
        if (!context) {
          // The CSV header, mapped here: a file without a phone column is refused before any row.
          if (r.malformed !== undefined)
            throw new ImportFormatError('header', `line ${r.line}: ${r.malformed}`);
          const header = mapHeader(csvFields(r.text));
          context = { importId: id, workspaceId, format, header, defaultCountry, importedAt: +importedAt };
          continue;
        }
        records.add(r);
        if (records.size >= NORMALIZE_BATCH) await batches.push(records.take(context));
      }
    };
    for await (const chunk of body) {
      await take(reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)));
    }
    await take(reader.end());
    if (records.size) await batches.push(records.take(context!));
    await batches.drain();
    await flush();
    await copying;
    if (!sawAnything) throw new ImportFormatError('body', 'the file is empty');
    if (staged === 0) throw new ImportFormatError('body', 'the file has a header but no rows');
    return staged;
  }

  /** The threads (or, without a built worker script, this thread) that normalize import rows. */
  private normalizer(): { run(batch: RecordBatch): Promise<StagedRecords> } {
    if (!this.pool) {
      const threads = this.config.env.PARLEY_IMPORT_WORKERS;
      const script = threads > 0 ? workerScript(__dirname, 'import-staging.worker') : undefined;
      if (script) {
        const pool = new WorkerPool<RecordBatch, StagedRecords>(script, threads);
        this.pool = {
          run: (batch) =>
            pool.run(batch, [batch.lines.buffer as ArrayBuffer, batch.malformed.buffer as ArrayBuffer]),
          close: () => pool.close(),
        };
        this.log.pino.info({ threads, script }, 'import rows are normalized on worker threads');
      } else {
        if (threads > 0) {
          this.log.pino.warn(
            'no built import-staging.worker.js (npm run build): import rows are normalized on the event loop',
          );
        }
        this.pool = { run: async (batch) => stageRecords(batch), close: async () => undefined };
      }
    }
    return this.pool;
  }

  async onModuleDestroy() {
    await this.pool?.close();
  }

  private async enqueue(importId: string, attempt = 0) {
    await this.queue.add(
      'import',
      { importId },
      {
        jobId: attempt ? `${importId}-retry-${attempt}` : importId,
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
      },
    );
  }

  async get(workspaceId: string, importId: string): Promise<ImportJson> {
    const r = await this.imports.find(workspaceId, importId);
    if (!r) throw ApiError.notFound('import', importId);
    return importJson(r);
  }

  /** Queues a failed import again; it resumes after its checkpoint. */
  async retry(workspaceId: string, importId: string): Promise<ImportJson> {
    const r = await this.imports.find(workspaceId, importId);
    if (!r) throw ApiError.notFound('import', importId);
    if (r.status !== 'failed') {
      throw ApiError.conflict(`import ${importId} is ${r.status}; only a failed import can be retried`);
    }
    if (!r.received_at) {
      throw ApiError.conflict(
        `import ${importId}: the upload did not finish; upload the file again`,
        'upload_incomplete',
      );
    }
    if (await this.imports.markQueued(importId)) await this.enqueue(importId, Date.now());
    return this.get(workspaceId, importId);
  }

  /** The refused rows as CSV `row,phone,reason`, read page by page; 404 before anything is sent. */
  async errorsCsv(workspaceId: string, importId: string): Promise<AsyncGenerator<string>> {
    if (!(await this.imports.find(workspaceId, importId))) throw ApiError.notFound('import', importId);
    return this.errorLines(workspaceId, importId);
  }

  private async *errorLines(workspaceId: string, importId: string): AsyncGenerator<string> {
    yield 'row,phone,reason\n';
    let after = 0;
    while (true) {
      const page = await this.imports.errorsPage(workspaceId, importId, after, 5_000);
      if (!page.length) return;
      yield page.map((r) => `${r.row_no},${csvCell(r.phone ?? '')},${r.reason}\n`).join('');
      after = page[page.length - 1].row_no;
    }
  }

  /**
   * Processes an import from its checkpoint to the end (the job's work). It may start while the
   * upload is still being staged: fewer staged rows than a batch then means "wait for more", until
   * the import is marked received, after which the rest is the last batch.
   */
  async process(importId: string): Promise<void> {
    const imp = await this.imports.find(undefined, importId);
    if (!imp) {
      // Discarded (a refused upload), or queued by an engine on another database that shares this
      // Redis and queue prefix: give each deployment its own KAFKA_TOPIC_PREFIX.
      this.log.pino.warn({ importId }, 'import job for an import this database does not have');
      return;
    }
    // Failed stays failed until POST …/retry queues it again.
    if (imp.status === 'completed' || imp.status === 'failed') return;
    await this.imports.markRunning(importId);
    let checkpoint = imp.checkpoint;
    let lastProgress = Date.now();
    // Rows in batches committed or under way: batches are exactly MOVE_BATCH rows, but the last.
    let claimed = imp.imported + imp.updated + imp.duplicates + imp.invalid;
    // Batches under way, oldest first; each commits only after the one before it (moveBatch).
    const moving: Promise<void>[] = [];
    try {
      while (true) {
        if (moving.length >= MOVES_IN_FLIGHT) {
          await moving.shift();
          continue;
        }
        // Read before looking for rows: received then means every row was already staged.
        const cur = await this.imports.find(undefined, importId);
        if (!cur || cur.status === 'failed') {
          await Promise.allSettled(moving);
          return; // refused or abandoned upload
        }
        // The staged count moves after each COPY commits: no need to look at staging until a whole
        // batch (or the end of the upload) is there.
        let upTo =
          cur.received_at || cur.staged - claimed >= MOVE_BATCH
            ? await this.imports.batchEnd(importId, checkpoint, MOVE_BATCH)
            : undefined;
        if (upTo === undefined && cur.received_at) {
          upTo = await this.imports.lastStagedRow(importId, checkpoint);
          if (upTo === undefined) break;
        }
        if (upTo === undefined) {
          if (Date.now() - lastProgress > UPLOAD_STALL_MS) {
            throw new Error(`the upload stalled: no rows for ${UPLOAD_STALL_MS / 1000} s`);
          }
          if (moving.length) await moving.shift();
          else await new Promise((r) => setTimeout(r, WAIT_FOR_ROWS_MS));
          continue;
        }
        const move = this.moveBatch(imp, checkpoint, upTo, moving[moving.length - 1]);
        move.catch(() => undefined); // awaited in order above or below
        moving.push(move);
        claimed += MOVE_BATCH;
        checkpoint = upTo;
        lastProgress = Date.now();
      }
      while (moving.length) await moving.shift();
    } catch (e) {
      // The batches after a failed one roll back (they wait for it to commit); let them finish
      // before a retry moves the same rows.
      await Promise.allSettled(moving);
      throw e;
    }
    const end = (await this.imports.find(undefined, importId))!;
    const processed = end.imported + end.updated + end.duplicates + end.invalid;
    if (processed < end.staged) {
      // Staging is unlogged: a database crash empties it. Finishing would silently skip rows.
      throw new StagingLostError(
        `${end.staged - processed} staged rows were lost (database restart?); upload the file again ` +
          '(rows already imported will count as updated)',
      );
    }
    if (end.imported >= ANALYZE_AFTER_IMPORTED) {
      // Until autovacuum gets to them the planner believes the new rows are not there, and the
      // first campaign planned on them reads its recipients with nested loops (measured: a 10k
      // import → 21 s per 1,000-recipient page before, 0.7 s after). So "completed" also means the
      // statistics include them. A failure here costs speed only.
      await this.imports
        .refreshStatistics()
        .catch((err) => this.log.pino.warn({ err, importId }, 'analyze after import failed'));
    }
    await this.imports.markCompleted(importId);
    this.log.info({ importId, checkpoint, rows: processed }, 'import completed');
    // After the status: deleting a million staged rows takes seconds the caller need not wait.
    await this.imports.dropStaging(importId);
  }

  /**
   * Moves staged rows (afterRow, upTo] into contacts, memberships, the errors report and the
   * consent ledger, and commits their counts and the checkpoint with them.
   */
  private async moveBatch(
    imp: ImportRow,
    afterRow: number,
    upTo: number,
    after?: Promise<void>,
  ): Promise<void> {
    const ms: Record<string, number> = {};
    const outcome = await this.imports.transaction(async (trx) => {
      await this.imports.tuneBatchTransaction(trx);
      if (!(await this.imports.holdWorkspace(trx, imp.workspace_id))) {
        throw new StagingLostError(`workspace ${imp.workspace_id} was deleted`);
      }
      let t = performance.now();
      const lap = (name: string) => {
        const now = performance.now();
        ms[name] = Math.round(now - t);
        t = now;
      };
      const staged = await this.imports.moveRefused(trx, imp.id, imp.workspace_id, afterRow, upTo);
      lap('refused');
      const r = await this.contacts.upsertStaged(
        trx,
        imp.workspace_id,
        imp.audience_id,
        imp.id,
        afterRow,
        upTo,
      );
      lap('contacts');
      await this.consent.appendOptIns(
        imp.workspace_id,
        this.imports.stagedOptIns(imp.id, afterRow, upTo),
        trx,
      );
      lap('consent');
      // The checkpoint only moves forward: the batch before this one commits first (if it fails,
      // this one rolls back and the retry moves both).
      await after;
      lap('waited');
      const kept = staged.rows - staged.invalid - staged.duplicates;
      const o = {
        rows: staged.rows,
        imported: r.inserted,
        updated: r.updated,
        // A kept number neither inserted nor updated cannot happen today; counted, never lost.
        duplicates: staged.duplicates + kept - r.inserted - r.updated,
        invalid: staged.invalid,
      };
      await this.imports.commitChunk(trx, imp.id, { lastRow: upTo, ...o });
      return o;
    });
    // Where a batch's time goes (debug): tells the contacts upsert from the consent ledger.
    this.log.pino.debug({ importId: imp.id, lastRow: upTo, rows: outcome.rows, ms }, 'import batch');
    this.rowsCounter.inc({ outcome: 'imported' }, outcome.imported);
    this.rowsCounter.inc({ outcome: 'updated' }, outcome.updated);
    this.rowsCounter.inc({ outcome: 'duplicate' }, outcome.duplicates);
    this.rowsCounter.inc({ outcome: 'invalid' }, outcome.invalid);
  }

  async fail(importId: string, error: string) {
    await this.imports.markFailed(importId, error);
  }
}

function csvCell(v: string): string {
  // Quoted when needed; a leading formula character is neutralized so spreadsheets do not run it.
  const safe = /^[=+\-@]/.test(v) && !/^\+\d/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
