import { describe, expect, it } from 'vitest';
import {
  CsvRecordReader,
  NdjsonRecordReader,
  RawRecord,
  csvFields,
  ndjsonValue,
  parseCsvRecord,
} from './import-records';

type Read = { line: number; fields: string[] } | { line: number; malformed: string };

/** The records of an input read in chunks of `chunk` bytes, with each record's fields. */
function readCsv(input: Buffer | string, chunk = 7, maxRecordBytes?: number): Read[] {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const r = new CsvRecordReader({ maxRecordBytes });
  const out: RawRecord[] = [];
  for (let i = 0; i < buf.length; i += chunk) out.push(...r.push(buf.subarray(i, i + chunk)));
  out.push(...r.end());
  return out.map((x) =>
    x.malformed !== undefined
      ? { line: x.line, malformed: x.malformed }
      : { line: x.line, fields: csvFields(x.text) },
  );
}

describe('CSV records', () => {
  it('reads the same records whatever the chunk boundaries (whole-chunk and byte-by-byte paths)', () => {
    const input = Buffer.concat([
      Buffer.from('\ufeffphone,name\r\n+1415,Chloé ✓\r\n+1416,"two\nlines"\n'),
      Buffer.from('+1417,bad '),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('\n+1418,' + 'x'.repeat(40) + '\n\n+1419,Müller\n+1420,"open\n'),
    ]);
    const whole = readCsv(input, input.length, 30);
    expect(whole.map((r) => r.line)).toEqual([1, 2, 3, 5, 6, 8, 9]);
    expect(whole[0]).toEqual({ line: 1, fields: ['phone', 'name'] });
    expect(whole[1]).toEqual({ line: 2, fields: ['+1415', 'Chloé ✓'] });
    expect(whole[2]).toEqual({ line: 3, fields: ['+1416', 'two\nlines'] });
    expect(whole[3]).toMatchObject({ line: 5, malformed: 'invalid UTF-8' });
    expect(whole[4]).toMatchObject({ line: 6, malformed: expect.stringContaining('longer than') });
    for (let chunk = 1; chunk <= 64; chunk++)
      expect(readCsv(input, chunk, 30), `chunk ${chunk}`).toEqual(whole);
  });

  it('parses quoted fields, doubled quotes, commas and newlines inside quotes', () => {
    expect(parseCsvRecord('a,"b,c","say ""hi""",')).toEqual(['a', 'b,c', 'say "hi"', '']);
    const recs = readCsv('phone,note\r\n+1 555,"two\nlines"\n+2,x\n');
    expect(recs).toEqual([
      { line: 1, fields: ['phone', 'note'] },
      { line: 2, fields: ['+1 555', 'two\nlines'] },
      { line: 4, fields: ['+2', 'x'] },
    ]);
  });

  it('refuses an unbalanced quote at its line and reads the following lines again', () => {
    const recs = readCsv('phone,name\n1,"bad\n2,ok\n3,fine\n');
    expect(recs[1]).toEqual({ line: 2, malformed: 'quote not closed at the end of the file' });
    expect(recs.slice(2)).toEqual([
      { line: 3, fields: ['2', 'ok'] },
      { line: 4, fields: ['3', 'fine'] },
    ]);
  });

  it('refuses text after a closing quote', () => {
    expect(readCsv('a\n"x"y\n')[1]).toMatchObject({
      line: 2,
      malformed: expect.stringContaining('after the closing quote'),
    });
  });

  it('refuses an invalid UTF-8 line and keeps BOM-less header clean', () => {
    const buf = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('phone\n1\n'),
      Buffer.from([0xff, 0xfe, 0x0a]),
      Buffer.from('3\n'),
    ]);
    expect(readCsv(buf, 3)).toEqual([
      { line: 1, fields: ['phone'] },
      { line: 2, fields: ['1'] },
      { line: 3, malformed: 'invalid UTF-8' },
      { line: 4, fields: ['3'] },
    ]);
  });

  it('refuses a line longer than the limit without keeping it, and goes on', () => {
    const recs = readCsv(`phone\n${'9'.repeat(5_000)}\n42\n`, 1_000, 1_024);
    expect(recs).toEqual([
      { line: 1, fields: ['phone'] },
      { line: 2, malformed: 'line longer than 1024 bytes' },
      { line: 3, fields: ['42'] },
    ]);
  });

  it('gives a record as its text: the line itself, or the lines of a quoted field joined', () => {
    const r = new CsvRecordReader();
    const out = [...r.push(Buffer.from('phone,note\r\n+1 555,"two\r\nlines"\n+2,x\n')), ...r.end()];
    expect(out).toEqual([
      { line: 1, text: 'phone,note' },
      { line: 2, text: '+1 555,"two\nlines"' },
      { line: 4, text: '+2,x' },
    ]);
    expect(() => csvFields('"open')).toThrow(/not a whole CSV record/);
  });

  it('skips blank lines and reads a last line without newline', () => {
    expect(readCsv('a\n\n\nb')).toEqual([
      { line: 1, fields: ['a'] },
      { line: 4, fields: ['b'] },
    ]);
  });
});

describe('NDJSON records', () => {
  it('reads one value per line and refuses bad JSON by line', () => {
    const r = new NdjsonRecordReader();
    const out = [...r.push(Buffer.from('{"phone":"1"}\n{bad\n\n[1]\n')), ...r.end()];
    expect(out).toEqual([
      { line: 1, text: '{"phone":"1"}' },
      { line: 2, text: '{bad' },
      { line: 4, text: '[1]' },
    ]);
    expect(ndjsonValue(out[0].malformed === undefined ? out[0].text : '')).toEqual({ value: { phone: '1' } });
    expect(ndjsonValue('{bad')).toMatchObject({ malformed: expect.stringContaining('invalid JSON') });
  });
});

describe('unsafe text in records', () => {
  // The reader keeps NUL and noncharacters (valid UTF-8) in the record, for the row check to
  // refuse that row by its column; a UTF-8-encoded surrogate is not UTF-8 and stops at the reader.
  it('gives NUL and U+FFFE as read, and refuses an encoded surrogate as invalid UTF-8', () => {
    const input = Buffer.concat([
      Buffer.from('phone,first_name\n+1,A\u0000nn\n+2,"B\u0000\nob"\n+3,'),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from('\n+4,\ufffe\n'),
    ]);
    const whole = readCsv(input, input.length);
    expect(whole).toEqual([
      { line: 1, fields: ['phone', 'first_name'] },
      { line: 2, fields: ['+1', 'A\u0000nn'] },
      { line: 3, fields: ['+2', 'B\u0000\nob'] },
      { line: 5, malformed: 'invalid UTF-8' },
      { line: 6, fields: ['+4', '\ufffe'] },
    ]);
    for (let chunk = 1; chunk <= 16; chunk++) expect(readCsv(input, chunk), `chunk ${chunk}`).toEqual(whole);
  });

  it('reads JSON escapes of NUL and lone surrogates into the value (the row check refuses them)', () => {
    const r = new NdjsonRecordReader();
    const [rec] = [...r.push(Buffer.from('{"phone":"1","note":"a\\u0000b\\ud800"}\n')), ...r.end()];
    expect(rec.malformed).toBeUndefined();
    expect(ndjsonValue(rec.malformed === undefined ? rec.text : '')).toEqual({
      value: { phone: '1', note: 'a\u0000b\ud800' },
    });
  });
});
