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
