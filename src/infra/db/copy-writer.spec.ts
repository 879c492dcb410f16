import { describe, expect, it } from 'vitest';
import { CopyWriter } from './copy-writer';

const text = (w: CopyWriter) => Buffer.concat(w.take()).toString('utf8');

describe('COPY text writer', () => {
  it('separates with tabs, writes null as \\N, and escapes backslash, tab and line breaks', () => {
    const w = new CopyWriter();
    w.row(['a', null, 7, '', undefined]);
    w.row(['tab\there', 'line\nbreak\r', 'c:\\d', '\\N', 'Müller ✓']);
    expect(w.size).toBe(2);
    expect(text(w)).toBe('a\t\\N\t7\t\t\\N\ntab\\there\tline\\nbreak\\r\tc:\\\\d\t\\\\N\tMüller ✓\n');
    expect(w.size).toBe(0);
    expect(w.take()).toEqual([]);
  });

  it('escapes the same before, inside and after non-ASCII text', () => {
    const w = new CopyWriter();
    w.row(['a\tb\\c', 'é\tf\ng', 'x\ry é\\ ✓\t', '😀\n', 'ü']);
    expect(text(w)).toBe('a\\tb\\\\c\té\\tf\\ng\tx\\ry é\\\\ ✓\\t\t😀\\n\tü\n');
  });

  it('writes what a plain escape-and-join writes, on random text of every kind', () => {
    const esc: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
    const line = (vs: (string | number | null)[]) =>
      vs.map((v) => (v === null ? '\\N' : String(v).replace(/[\\\t\n\r]/g, (c) => esc[c]))).join('\t') + '\n';
    const chars = [
      'a',
      'Z',
      '0',
      '\t',
      '\n',
      '\r',
      '\\',
      'é',
      '✓',
      '😀',
      ' ',
      '"',
      'N',
      '\u0000',
      '\u007f',
      '\u0080',
    ];
    let seed = 1;
    const rnd = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
    const w = new CopyWriter();
    let want = '';
    for (let i = 0; i < 2_000; i++) {
      const vs = Array.from({ length: 5 }, () => {
        const t = rnd(8);
        if (t === 0) return null;
        if (t === 1) return rnd(1e6);
        return Array.from({ length: rnd(12) }, () => chars[rnd(chars.length)]).join('');
      });
      w.row(vs);
      want += line(vs);
    }
    expect(text(w)).toBe(want);
  });

  it('keeps rows whole across pages, including a value larger than a page', () => {
    const w = new CopyWriter();
    const big = 'é'.repeat(700_000);
    for (let i = 0; i < 3; i++) w.row([i, big]);
    const lines = text(w).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.slice(0, 3)).toEqual([0, 1, 2].map((i) => `${i}\t${big}`));
  });

  it('counts the bytes written since the last take, and takes row by row without losing any', () => {
    const w = new CopyWriter();
    w.row(['ab', null]);
    expect(w.length).toBe(6);
    expect(text(w)).toBe('ab\t\\N\n');
    expect(w.length).toBe(0);
    const big = 'x'.repeat(600_000);
    const pieces: string[] = [];
    for (let i = 0; i < 5; i++) {
      w.row([i, big]);
      expect(w.length).toBe(600_003);
      pieces.push(text(w));
    }
    expect(pieces).toEqual([0, 1, 2, 3, 4].map((i) => `${i}\t${big}\n`));
  });
});
