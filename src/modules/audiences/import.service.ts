// Imports end to end. Receiving: the upload is read chunk by chunk and written to staging in
// batches as it arrives (never held whole), then a job is queued. Processing (scheduler role):
// staged rows are normalized and upserted a chunk at a time; each chunk's contacts, refused rows,
// consent events, counters and checkpoint commit together, so a restarted job resumes exactly
// where the last one stopped and nothing is counted or written twice.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Readable } from 'node:stream';
import { ApiError } from '../../infra/http/api-error';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { BulkOptIn, ConsentRepository } from '../consent/consent.repository';
import { AudienceRepository } from './audience.repository';
import { ContactRepository } from './contact.repository';
import { CsvRecordReader, NdjsonRecordReader, RawRecord } from './import-records';
import {
  HeaderMap,
  ImportFormatError,
  PreparedContact,
  StagedRow,
  mapHeader,
  malformedRow,
  prepareRow,
  rowFromFields,
  rowFromObject,
} from './import-row';
import { ImportRepository, ImportRow, RefusedRow } from './import.repository';

export const IMPORTS_QUEUE = 'imports';
export type ImportFormat = 'csv' | 'ndjson';

/** Rows per staging insert while reading the upload. */
const STAGE_BATCH = 5_000;
/** Rows per processing transaction. */
const PROCESS_CHUNK = 10_000;
/** How long the job waits for more rows while the upload is still arriving. */
const WAIT_FOR_ROWS_MS = 50;
/** An upload that adds no rows for this long is abandoned (the receiving process died). */
const UPLOAD_STALL_MS = 5 * 60_000;

interface PreparedChunk {
  rows: number;
  lastRow: number;
  contacts: PreparedContact[];
  refused: RefusedRow[];
  optIns: BulkOptIn[];
  duplicates: number;
  prepareMs: number;
}

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
export class ImportService {
  private readonly rowsCounter;

  constructor(
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
    const id = await this.imports.create(workspaceId, audienceId, format, defaultCountry);
    await this.enqueue(id);
    let staged: number;
    try {
      staged = await this.stageUpload(id, workspaceId, format, body);
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

  private async stageUpload(id: string, workspaceId: string, format: ImportFormat, body: Readable) {
    const reader = format === 'csv' ? new CsvRecordReader() : new NdjsonRecordReader();
    let header: HeaderMap | undefined;
    let batch: StagedRow[] = [];
    let staged = 0;
    let sawAnything = false;
    const take = (records: RawRecord[]) => {
      for (const r of records) {
        sawAnything = true;
        if (format === 'ndjson') {
          batch.push(
            r.malformed !== undefined
              ? malformedRow(r.line, r.malformed)
              : rowFromObject(r.line, (r as { value: unknown }).value),
          );
          continue;
        }
        if (!header) {
          if (r.malformed !== undefined)
            throw new ImportFormatError('header', `line ${r.line}: ${r.malformed}`);
          header = mapHeader((r as { fields: string[] }).fields);
          continue;
        }
        batch.push(
          r.malformed !== undefined
            ? malformedRow(r.line, r.malformed)
            : rowFromFields(header, r.line, (r as { fields: string[] }).fields),
        );
      }
    };
    let flushes = 0;
    // One batch is inserted while the next is parsed; at most one insert is in flight, which
    // also bounds memory (two batches) and slows the upload to the database's pace.
    let inFlight: Promise<void> | undefined;
    const flush = async () => {
      await inFlight;
      if (!batch.length) return;
      const rows = batch;
      batch = [];
      staged += rows.length;
      const progress = ++flushes % 20 === 0 ? staged : 0;
      inFlight = this.imports.stage(id, workspaceId, rows).then(async () => {
        // The running total a progress bar shows while the upload is still arriving.
        if (progress) await this.imports.markStagedSoFar(id, progress);
      });
      inFlight.catch(() => undefined); // awaited by the next flush
    };
    for await (const chunk of body) {
      take(reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)));
      if (batch.length >= STAGE_BATCH) await flush();
    }
    take(reader.end());
    await flush();
    await inFlight;
    if (!sawAnything) throw new ImportFormatError('body', 'the file is empty');
    if (staged === 0) throw new ImportFormatError('body', 'the file has a header but no rows');
    return staged;
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
   * upload is still being staged: an empty read then means "wait for more", until the import is
   * marked received, after which one more empty read means done.
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
    const defaultCountry = imp.default_country ?? undefined;
    let checkpoint = imp.checkpoint;
    let lastProgress = Date.now();
    // A pipeline: while chunk N is written (one transaction, the database's work), chunk N+1 is
    // read on another connection and normalized here. Writes stay in file order, one at a time,
    // so the checkpoint only ever moves over committed rows.
    let writing: Promise<void> | undefined;
    const read = (after: number) => {
      const p = this.imports.nextChunk(importId, after, PROCESS_CHUNK);
      p.catch(() => undefined); // awaited below; a write failing first must not leave it unhandled
      return p;
    };
    let next = read(checkpoint);
    while (true) {
      let rows = await next;
      if (!rows.length) {
        const cur = await this.imports.find(undefined, importId);
        if (!cur || cur.status === 'failed') {
          await writing;
          return; // refused or abandoned upload
        }
        if (cur.received_at) {
          // Received before this read? Then the read saw every row. Otherwise read once more.
          rows = await this.imports.nextChunk(importId, checkpoint, PROCESS_CHUNK);
          if (!rows.length) break;
        } else {
          if (Date.now() - lastProgress > UPLOAD_STALL_MS) {
            throw new Error(`the upload stalled: no rows for ${UPLOAD_STALL_MS / 1000} s`);
          }
          await new Promise((r) => setTimeout(r, WAIT_FOR_ROWS_MS));
          next = read(checkpoint);
          continue;
        }
      }
      lastProgress = Date.now();
      checkpoint = rows[rows.length - 1].row_no;
      next = read(checkpoint);
      const chunk = this.prepareChunk(imp, rows, defaultCountry);
      await writing;
      writing = this.writeChunk(imp, chunk);
      writing.catch(() => undefined); // awaited before the next write and at the end
    }
    await writing;
    const end = (await this.imports.find(undefined, importId))!;
    const processed = end.imported + end.updated + end.duplicates + end.invalid;
    if (processed < end.staged) {
      // Staging is unlogged: a database crash empties it. Finishing would silently skip rows.
      throw new StagingLostError(
        `${end.staged - processed} staged rows were lost (database restart?); upload the file again ` +
          '(rows already imported will count as updated)',
      );
    }
    await this.imports.markCompleted(importId);
    this.log.info({ importId, checkpoint, rows: processed }, 'import completed');
    // After the status: deleting a million staged rows takes seconds the caller need not wait.
    await this.imports.dropStaging(importId);
  }

  /** Normalizes and dedupes a chunk (CPU only). */
  private prepareChunk(imp: ImportRow, rows: StagedRow[], defaultCountry: string | undefined): PreparedChunk {
    const t0 = performance.now();
    const unique = new Map<string, PreparedContact>();
    const refused: RefusedRow[] = [];
    let duplicates = 0;
    for (const row of rows) {
      const p = prepareRow(row, defaultCountry, imp.created_at);
      if (!p.ok) {
        refused.push({ row_no: p.row_no, phone: p.phone, reason: p.reason, detail: p.detail });
        continue;
      }
      // The first occurrence of a number in the file wins; later ones are duplicates.
      if (unique.has(p.contact.e164)) duplicates++;
      else unique.set(p.contact.e164, p.contact);
    }
    const contacts = [...unique.values()];
    const optIns = contacts
      .filter((c) => c.optIn)
      .map((c) => ({
        e164: c.e164,
        source: c.optIn!.source,
        evidence: `import ${imp.id} row ${c.row_no}`,
        occurredAt: c.optIn!.at,
      }));
    return {
      rows: rows.length,
      lastRow: rows[rows.length - 1].row_no,
      contacts,
      refused,
      optIns,
      duplicates,
      prepareMs: Math.round(performance.now() - t0),
    };
  }

  /** Commits a chunk's contacts, refused rows, consent, counters and checkpoint together. */
  private async writeChunk(imp: ImportRow, chunk: PreparedChunk): Promise<void> {
    const { contacts, refused, optIns, duplicates, lastRow } = chunk;
    const ms: Record<string, number> = { prepare: chunk.prepareMs };
    const { inserted, updated } = await this.imports.transaction(async (trx) => {
      let t = performance.now();
      const lap = (name: string) => {
        const now = performance.now();
        ms[name] = Math.round(now - t);
        t = now;
      };
      const r = await this.contacts.upsertChunk(trx, imp.workspace_id, imp.audience_id, imp.id, contacts);
      lap('contacts');
      await this.imports.insertErrors(trx, imp.id, imp.workspace_id, refused);
      await this.consent.appendOptIns(imp.workspace_id, optIns, trx);
      lap('consent');
      await this.imports.commitChunk(trx, imp.id, {
        lastRow,
        imported: r.inserted,
        updated: r.updated,
        duplicates: duplicates + contacts.length - r.inserted - r.updated,
        invalid: refused.length,
      });
      return r;
    });
    // Where a chunk's time goes (debug): tells a slow import's CPU from its database.
    this.log.pino.debug({ importId: imp.id, lastRow, rows: chunk.rows, ms }, 'import chunk');
    this.rowsCounter.inc({ outcome: 'imported' }, inserted);
    this.rowsCounter.inc({ outcome: 'updated' }, updated);
    this.rowsCounter.inc({ outcome: 'duplicate' }, duplicates + contacts.length - inserted - updated);
    this.rowsCounter.inc({ outcome: 'invalid' }, refused.length);
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
