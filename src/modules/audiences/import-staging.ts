// Import rows on their way to the staging table, as COPY text. A batch of records read from the
// upload is turned into rows (mapped, normalized, refused with reasons) by `stageRecords`, which
// runs on a worker thread; the receiving thread then keeps the first occurrence of each number in
// file order (`keepFirst`), which needs every earlier batch and so cannot run on the workers.
// Pure: no framework, no I/O.
import { CopyWriter } from '../../infra/db/copy-writer';
import { RawRecord, csvFields, ndjsonValue } from './import-records';
import { NumberSet } from './number-set';
import { HeaderMap, Prepared, malformedRow, prepareRow, rowFromFields, rowFromObject } from './import-row';
import { CONTACT_TEXT_COLUMNS } from './audiences.tables';

/** Staging columns in COPY order; the repository's COPY statement names the same list. */
export const STAGING_COLUMNS = [
  'import_id',
  'workspace_id',
  'row_no',
  ...CONTACT_TEXT_COLUMNS,
  'attributes',
  'opted_in_at',
  'consent_source',
  'phone',
  'reason',
  'detail',
] as const;

/** The contact columns (e164 … consent_source) of a row that is not a kept contact. */
const NO_CONTACT = Array<null>(STAGING_COLUMNS.indexOf('phone') - STAGING_COLUMNS.indexOf('e164')).fill(null);

/**
 * Rows of one import as COPY text, in file order: a kept contact, a refused row (reason, detail,
 * the phone as written), or a later occurrence of a number already kept (only its row number).
 */
export class StagingBatch {
  private readonly out = new CopyWriter();

  constructor(
    private readonly importId: string,
    private readonly workspaceId: string,
  ) {}

  /** Rows added since the last take. */
  get size(): number {
    return this.out.size;
  }

  /** Bytes added since the last take. */
  get length(): number {
    return this.out.length;
  }

  /** A kept contact or a refused row (a repeat of a kept number goes through addDuplicate). */
  add(p: Prepared): void {
    const id = this.importId;
    const ws = this.workspaceId;
    if (!p.ok) {
      this.out.row([id, ws, p.row_no, ...NO_CONTACT, p.phone, p.reason, p.detail]);
      return;
    }
    const c = p.contact;
    this.out.row([
      id,
      ws,
      c.row_no,
      c.e164,
      c.country,
      c.line_type,
      c.first_name,
      c.last_name,
      c.email,
      c.timezone,
      c.attributes,
      c.optIn ? c.optIn.at.toISOString() : null,
      c.optIn ? c.optIn.source : null,
      null,
      null,
      null,
    ]);
  }

  /** A row whose number an earlier row of the file already has. */
  addDuplicate(rowNo: number): void {
    this.out.row([this.importId, this.workspaceId, rowNo, ...NO_CONTACT, null, null, null]);
  }

  /** Takes the batch's bytes, leaving it empty. */
  take(): Buffer[] {
    return this.out.take();
  }
}

/** What an import's records need to become rows; the same for every batch of the import. */
export interface ImportContext {
  importId: string;
  workspaceId: string;
  format: 'csv' | 'ndjson';
  /** The CSV header (NDJSON names its fields in each object). */
  header?: HeaderMap;
  defaultCountry?: string;
  /** When consent without a time was given (ms since the epoch). */
  importedAt: number;
}

/** Records of the upload in file order: a record's text, or why its line could not be read. */
export interface RecordBatch {
  context: ImportContext;
  lines: Int32Array;
  /** The record's text, or the reason when `malformed[i]` is 1. */
  texts: string[];
  malformed: Uint8Array;
}

/** Collects records into batches for the workers: line numbers and texts, no objects per row. */
export class RecordBatcher {
  private lines: number[] = [];
  private texts: string[] = [];
  private malformed: number[] = [];

  /** Records added since the last take. */
  get size(): number {
    return this.lines.length;
  }

  add(r: RawRecord): void {
    this.lines.push(r.line);
    if (r.malformed !== undefined) {
      this.texts.push(r.malformed);
      this.malformed.push(1);
    } else {
      this.texts.push(r.text);
      this.malformed.push(0);
    }
  }

  /** The records added since the last take, as one batch of the import. */
  take(context: ImportContext): RecordBatch {
    const batch = {
      context,
      lines: Int32Array.from(this.lines),
      texts: this.texts,
      malformed: Uint8Array.from(this.malformed),
    };
    this.lines = [];
    this.texts = [];
    this.malformed = [];
    return batch;
  }
}

/**
 * A batch as staging rows, every kept number written as if it were the first of the file. Each
 * kept row is listed (its number as digits, its row number and its bytes in `data`) so the
 * receiving thread can swap later occurrences for duplicate rows without reading the text.
 */
export interface StagedRecords {
  rows: number;
  data: Uint8Array;
  kept: number;
  keptNumber: Float64Array;
  keptRow: Int32Array;
  keptStart: Uint32Array;
  keptEnd: Uint32Array;
}

/** Maps, normalizes and writes a batch of records (the worker threads' job). */
export function stageRecords(batch: RecordBatch): StagedRecords {
  const { context: cx, lines, texts, malformed } = batch;
  const importedAt = new Date(cx.importedAt);
  const out = new StagingBatch(cx.importId, cx.workspaceId);
  const n = lines.length;
  const keptNumber = new Float64Array(n);
  const keptRow = new Int32Array(n);
  const keptStart = new Uint32Array(n);
  const keptEnd = new Uint32Array(n);
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const line = lines[i];
    let row;
    if (malformed[i]) row = malformedRow(line, texts[i]);
    else if (cx.format === 'csv') row = rowFromFields(cx.header!, line, csvFields(texts[i]));
    else {
      const v = ndjsonValue(texts[i]);
      row = 'malformed' in v ? malformedRow(line, v.malformed) : rowFromObject(line, v.value);
    }
    const p = prepareRow(row, cx.defaultCountry, importedAt);
    if (p.ok) {
      // E.164 has at most 15 digits: exact in a double, and a number is cheaper to send and to
      // look up than the string.
      keptNumber[kept] = Number(p.contact.e164.slice(1));
      keptRow[kept] = p.contact.row_no;
      keptStart[kept] = out.length;
      out.add(p);
      keptEnd[kept] = out.length;
      kept++;
    } else {
      out.add(p);
    }
  }
  const rows = out.size;
  const pages = out.take();
  // One buffer of its own (never a slice of Node's shared pool), so it can be transferred.
  const data = new Uint8Array(pages.reduce((s, b) => s + b.length, 0));
  let at = 0;
  for (const b of pages) {
    data.set(b, at);
    at += b.length;
  }
  return {
    rows,
    data,
    kept,
    keptNumber: keptNumber.slice(0, kept),
    keptRow: keptRow.slice(0, kept),
    keptStart: keptStart.slice(0, kept),
    keptEnd: keptEnd.slice(0, kept),
  };
}

/** The buffers a StagedRecords owns (moved, not copied, to the receiving thread). */
export function transferablesOf(s: StagedRecords): ArrayBuffer[] {
  return [s.data, s.keptNumber, s.keptRow, s.keptStart, s.keptEnd].map((a) => a.buffer as ArrayBuffer);
}

/**
 * The batch's COPY text with every number `seen` already has (from earlier rows of the file, or
 * earlier in this batch) written as a duplicate row instead; adds the batch's new numbers to
 * `seen`. Returns the pieces in order and how many rows became duplicates.
 */
export function keepFirst(
  s: StagedRecords,
  seen: NumberSet,
  duplicate: (rowNo: number) => readonly Uint8Array[],
): { data: Uint8Array[]; duplicates: number } {
  const data: Uint8Array[] = [];
  let from = 0;
  let duplicates = 0;
  for (let k = 0; k < s.kept; k++) {
    if (seen.add(s.keptNumber[k])) continue;
    if (s.keptStart[k] > from) data.push(s.data.subarray(from, s.keptStart[k]));
    data.push(...duplicate(s.keptRow[k]));
    from = s.keptEnd[k];
    duplicates++;
  }
  if (from < s.data.length) data.push(s.data.subarray(from));
  return { data, duplicates };
}
