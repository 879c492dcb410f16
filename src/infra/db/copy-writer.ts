// Rows in COPY's text format (tab-separated, `\N` for null, backslash escapes), written straight
// into buffers. Pure: no database, so worker threads can write COPY text too.
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
  /** Where the bytes not taken yet start in `buf`. */
  private start = 0;
  private pos = 0;
  private rows = 0;
  /** Bytes in `pages`. */
  private taken = 0;

  /** Rows written since the last take. */
  get size(): number {
    return this.rows;
  }

  /** Bytes written since the last take (where the next row starts). */
  get length(): number {
    return this.taken + this.pos - this.start;
  }

  row(values: readonly CopyValue[]): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined) {
        this.room(3);
        this.buf[this.pos++] = 92; // \
        this.buf[this.pos++] = 78; // N
      } else {
        this.text(typeof v === 'number' ? String(v) : v);
      }
      this.buf[this.pos++] = i === values.length - 1 ? 10 : 9; // newline after the last, else tab
    }
    this.rows++;
  }

  /**
   * One value, escaped. ASCII (nearly every value: numbers, ids, dates, most names) is copied char
   * by char, escapes included; a native UTF-8 write per value cost more than the copy itself.
   */
  private text(v: string) {
    const n = v.length;
    this.room(n * 3 + 1); // a UTF-16 unit becomes at most 3 bytes (an escape: 2)
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) {
        // The rest through the UTF-8 encoder.
        this.pos = pos + buf.write(escape(v.slice(i)), pos, 'utf8');
        return;
      }
      if (c === 92 || c === 9 || c === 10 || c === 13) {
        buf[pos++] = 92; // \
        buf[pos++] = c === 92 ? 92 : c === 9 ? 116 : c === 10 ? 110 : 114; // \ t n r
      } else {
        buf[pos++] = c;
      }
    }
    this.pos = pos;
  }

  /**
   * Takes what was written, leaving the writer empty. The pieces are views of the writer's pages;
   * later rows go after them in the same page, so a take per row costs no new page.
   */
  take(): Buffer[] {
    this.cut();
    const out = this.pages;
    this.pages = [];
    this.taken = 0;
    this.rows = 0;
    return out;
  }

  private cut() {
    if (this.pos > this.start) this.pages.push(this.buf.subarray(this.start, this.pos));
    this.taken += this.pos - this.start;
    this.start = this.pos;
  }

  private room(bytes: number) {
    if (this.pos + bytes <= this.buf.length) return;
    this.cut();
    this.buf = Buffer.allocUnsafe(Math.max(PAGE, bytes));
    this.start = 0;
    this.pos = 0;
  }
}
