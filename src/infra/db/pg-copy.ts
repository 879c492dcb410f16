// COPY … FROM STDIN for bulk loads: rows go to Postgres as lines of COPY's text format
// (tab-separated, `\N` for null, backslash escapes), with no per-row parameter or array
// serialization on either side.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFromStdin } from 'pg-copy-streams';
import { Db, poolOf } from './db';

const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escape = (v: string) => (SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]) : v);

type CopyValue = string | number | null | undefined;

const PAGE = 1 << 20;

/**
 * Rows in COPY's text format written straight into buffers: for a million rows, building a string
 * per row and joining them costs several times more than the bytes themselves.
 */
export class CopyWriter {
  private pages: Buffer[] = [];
  private buf = Buffer.allocUnsafe(PAGE);
  private pos = 0;
  private rows = 0;

  /** Rows written since the last take. */
  get size(): number {
    return this.rows;
  }

  row(values: readonly CopyValue[]): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) {
        this.room(3);
        this.buf[this.pos++] = 92; // \
        this.buf[this.pos++] = 78; // N
      } else {
        const text = typeof v === 'number' ? String(v) : escape(v);
        this.room(text.length * 3 + 1); // UTF-16 unit to UTF-8: at most 3 bytes
        this.pos += this.buf.write(text, this.pos, 'utf8');
      }
      this.buf[this.pos++] = i === values.length - 1 ? 10 : 9; // newline after the last, else tab
    }
    this.rows++;
  }

  /** Takes what was written, leaving the writer empty. */
  take(): Buffer[] {
    if (this.pos) this.pages.push(this.buf.subarray(0, this.pos));
    const out = this.pages;
    this.pages = [];
    this.buf = Buffer.allocUnsafe(PAGE);
    this.pos = 0;
    this.rows = 0;
    return out;
  }

  private room(bytes: number) {
    if (this.pos + bytes <= this.buf.length) return;
    if (this.pos) this.pages.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(PAGE, bytes));
    this.pos = 0;
  }
}

/**
 * Runs one `COPY table (columns) FROM STDIN` with the given data (whole lines, e.g. a CopyWriter's)
 * on a pooled connection; the rows commit together when it returns.
 */
export async function copyFrom(
  db: Db,
  statement: string,
  data: string | readonly (string | Buffer)[],
): Promise<void> {
  const client = await poolOf(db).connect();
  try {
    const sink = client.query(copyFromStdin(statement));
    await pipeline(Readable.from(typeof data === 'string' ? [data] : data), sink);
    client.release();
  } catch (e) {
    // The connection may be mid-COPY: do not hand it to the next caller.
    client.release(e instanceof Error ? e : true);
    throw e;
  }
}
