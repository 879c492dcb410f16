// Turns an upload, chunk by chunk, into records without ever holding the file: CSV (RFC 4180,
// quoted fields may span lines) or NDJSON (one object per line). Bad input becomes a malformed
// record for its line, and reading resumes on the next line, so one stray quote, an invalid UTF-8
// byte or a 10 MB line costs that row only. A record is its text (csvFields / ndjsonValue read
// it), so records cross to a worker thread as plain strings. Pure: no framework, no I/O.
import { isUtf8 } from 'node:buffer';

export type RawRecord =
  { line: number; text: string; malformed?: undefined } | { line: number; malformed: string };

export interface RecordReaderOptions {
  /** Longest line (and longest multi-line quoted record) accepted, in bytes. */
  maxRecordBytes?: number;
}

export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

/** Splits bytes into lines (LF or CRLF), refusing lines longer than the limit without buffering them. */
class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private skipping = false;
  private lineNo = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onLine: (line: number, text: string) => void,
    private readonly onBad: (line: number, reason: string) => void,
  ) {}

  push(chunk: Buffer) {
    let start = 0;
    if (this.length || this.skipping) {
      // Finish the line the previous chunk left open, byte by byte.
      const nl = chunk.indexOf(10);
      if (nl < 0) return this.pushBytes(chunk);
      this.pushBytes(chunk.subarray(0, nl + 1));
      start = nl + 1;
    }
    // The whole lines of the chunk: when they are valid UTF-8 (the usual case), decode them once
    // instead of line by line, which is most of the cost of reading a large file.
    const last = chunk.lastIndexOf(10);
    if (last > start) {
      const region = chunk.subarray(start, last);
      if (isUtf8(region)) {
        const text = region.toString('utf8');
        let from = 0;
        while (true) {
          const nl = text.indexOf('\n', from);
          this.textLine(nl < 0 ? text.slice(from) : text.slice(from, nl));
          if (nl < 0) break;
          from = nl + 1;
        }
        start = last + 1;
      }
    }
    if (start < chunk.length) this.pushBytes(chunk.subarray(start));
  }

  private pushBytes(chunk: Buffer) {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.skipping) {
        const piece = chunk.subarray(start, end);
        if (this.length + piece.length > this.maxBytes) {
          this.skipping = true;
          this.parts = [];
          this.length = 0;
        } else if (piece.length) {
          this.parts.push(piece);
          this.length += piece.length;
        }
      }
      if (nl < 0) break;
      this.finishLine();
      start = nl + 1;
    }
  }

  /** A whole line already decoded (no newline); the same checks as finishLine. */
  private textLine(text: string) {
    this.lineNo++;
    // UTF-16 units never outnumber UTF-8 bytes; only a long line needs its bytes counted.
    if (
      text.length > this.maxBytes ||
      (text.length * 3 > this.maxBytes && Buffer.byteLength(text) > this.maxBytes)
    ) {
      this.onBad(this.lineNo, `line longer than ${this.maxBytes} bytes`);
      return;
    }
    if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    if (this.lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    this.onLine(this.lineNo, text);
  }

  end() {
    if (this.length || this.skipping) this.finishLine();
  }

  private finishLine() {
    this.lineNo++;
    if (this.skipping) {
      this.skipping = false;
      this.onBad(this.lineNo, `line longer than ${this.maxBytes} bytes`);
      return;
    }
    let buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    if (buf.length && buf[buf.length - 1] === 13) buf = buf.subarray(0, buf.length - 1);
    if (this.lineNo === 1 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    if (!isUtf8(buf)) {
      this.onBad(this.lineNo, 'invalid UTF-8');
      return;
    }
    this.onLine(this.lineNo, buf.toString('utf8'));
  }
}

const OPEN = Symbol('open quote');

/** One CSV record from its text: the fields, OPEN when a quoted field runs past the end, or an error. */
export function parseCsvRecord(text: string): string[] | typeof OPEN | { error: string } {
  if (!text.includes('"')) return text.split(',');
  const fields: string[] = [];
  let i = 0;
  while (true) {
    if (text.charCodeAt(i) === 34) {
      let value = '';
      let j = i + 1;
      while (true) {
        const k = text.indexOf('"', j);
        if (k < 0) return OPEN;
        value += text.slice(j, k);
        if (text.charCodeAt(k + 1) === 34) {
          value += '"';
          j = k + 2;
          continue;
        }
        i = k + 1;
        break;
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text.charCodeAt(i) !== 44) {
        return {
          error: `unexpected ${JSON.stringify(text[i])} after the closing quote of field ${fields.length}`,
        };
      }
      i++;
      if (i === text.length) {
        fields.push('');
        return fields;
      }
    } else {
      // A quote inside an unquoted field (5'10") is taken literally, as spreadsheets write it.
      const k = text.indexOf(',', i);
      if (k < 0) {
        fields.push(text.slice(i));
        return fields;
      }
      fields.push(text.slice(i, k));
      i = k + 1;
      if (i === text.length) {
        fields.push('');
        return fields;
      }
    }
  }
}

/** The fields of a record the CSV reader returned (its text is known to parse). */
export function csvFields(text: string): string[] {
  const r = parseCsvRecord(text);
  if (!Array.isArray(r)) throw new Error('csvFields: not a whole CSV record');
  return r;
}

/** The value of an NDJSON record, or why it is not JSON. */
export function ndjsonValue(text: string): { value: unknown } | { malformed: string } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { malformed: `invalid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Reads CSV records; the first record is the header like any other (the caller maps it). */
export class CsvRecordReader {
  private out: RawRecord[] = [];
  private readonly splitter: LineSplitter;
  private readonly maxBytes: number;
  // A quoted record spanning lines: its lines so far (kept so they can be re-read on failure).
  private open: { line: number; text: string }[] = [];
  private openBytes = 0;

  constructor(opts: RecordReaderOptions = {}) {
    this.maxBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.splitter = new LineSplitter(
      this.maxBytes,
      (line, text) => this.line(line, text),
      (line, reason) => {
        this.abandonOpen('quote not closed before a malformed line');
        this.out.push({ line, malformed: reason });
      },
    );
  }

  push(chunk: Buffer): RawRecord[] {
    this.splitter.push(chunk);
    return this.take();
  }

  end(): RawRecord[] {
    this.splitter.end();
    // Each round refuses one line, so this ends; re-read lines may open a quote of their own.
    while (this.open.length) this.abandonOpen('quote not closed at the end of the file');
    return this.take();
  }

  private take(): RawRecord[] {
    const r = this.out;
    this.out = [];
    return r;
  }

  private line(line: number, text: string) {
    if (!this.open.length) {
      if (text.trim() === '') return;
      // Without a quote a line is a whole record (the usual case: nothing to parse here).
      if (!text.includes('"')) {
        this.out.push({ line, text });
        return;
      }
    }
    this.open.push({ line, text });
    this.openBytes += text.length + 1;
    const whole = this.open.length === 1 ? text : this.open.map((l) => l.text).join('\n');
    const r = parseCsvRecord(whole);
    if (r === OPEN) {
      if (this.openBytes > this.maxBytes) this.abandonOpen(`quote not closed within ${this.maxBytes} bytes`);
      return;
    }
    const start = this.open[0].line;
    this.open = [];
    this.openBytes = 0;
    if (Array.isArray(r)) this.out.push({ line: start, text: whole });
    else this.out.push({ line: start, malformed: r.error });
  }

  /** The open record is refused at its first line; the lines after it are read again as records. */
  private abandonOpen(reason: string) {
    if (!this.open.length) return;
    const [first, ...rest] = this.open;
    this.open = [];
    this.openBytes = 0;
    this.out.push({ line: first.line, malformed: reason });
    for (const l of rest) this.line(l.line, l.text);
  }
}

/** Reads NDJSON: one JSON value per line (ndjsonValue parses it); blank lines are skipped. */
export class NdjsonRecordReader {
  private out: RawRecord[] = [];
  private readonly splitter: LineSplitter;

  constructor(opts: RecordReaderOptions = {}) {
    this.splitter = new LineSplitter(
      opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
      (line, text) => {
        if (text.trim() !== '') this.out.push({ line, text });
      },
      (line, reason) => this.out.push({ line, malformed: reason }),
    );
  }

  push(chunk: Buffer): RawRecord[] {
    this.splitter.push(chunk);
    return this.take();
  }

  end(): RawRecord[] {
    this.splitter.end();
    return this.take();
  }

  private take(): RawRecord[] {
    const r = this.out;
    this.out = [];
    return r;
  }
}
