import { describe, expect, it } from 'vitest';
import { CsvRecordReader, NdjsonRecordReader, RawRecord, csvFields, ndjsonValue } from './import-records';
import { mapHeader, malformedRow, prepareRow, rowFromFields, rowFromObject } from './import-row';
import {
  ImportContext,
  RecordBatcher,
  StagingBatch,
  keepFirst,
  stageRecords,
  transferablesOf,
} from './import-staging';
import { NumberSet } from './number-set';

const IMPORT = '74132740-cc73-4d47-9996-0d23cb53fe2d';
const WS = '7128bdc1-95ff-4801-9b5b-1f4ca4412833';
const AT = new Date('2026-01-02T03:04:05Z');

function read(reader: CsvRecordReader | NdjsonRecordReader, text: string): RawRecord[] {
  return [...reader.push(Buffer.from(text)), ...reader.end()];
}

/** The staging text as one thread makes it, row by row: the reference the batches must match. */
function oneByOne(records: RawRecord[], cx: ImportContext): string {
  const out = new StagingBatch(IMPORT, WS);
  const seen = new Set<string>();
  for (const r of records) {
    let row;
    if (r.malformed !== undefined) row = malformedRow(r.line, r.malformed);
    else if (cx.format === 'csv') row = rowFromFields(cx.header!, r.line, csvFields(r.text));
    else {
      const v = ndjsonValue(r.text);
      row = 'malformed' in v ? malformedRow(r.line, v.malformed) : rowFromObject(r.line, v.value);
    }
    const p = prepareRow(row, cx.defaultCountry, AT);
    if (p.ok && seen.has(p.contact.e164)) out.addDuplicate(p.contact.row_no);
    else out.add(p);
    if (p.ok) seen.add(p.contact.e164);
  }
  return Buffer.concat(out.take()).toString('utf8');
}

/** The staging text made the way an upload makes it: batches staged apart, then kept in order. */
function inBatches(records: RawRecord[], cx: ImportContext, size: number) {
  const batcher = new RecordBatcher();
  const seen = new NumberSet();
  const dups = new StagingBatch(IMPORT, WS);
  const parts: Uint8Array[] = [];
  let rows = 0;
  let duplicates = 0;
  const flush = () => {
    const staged = stageRecords(batcher.take(cx));
    rows += staged.rows;
    const kept = keepFirst(staged, seen, (rowNo) => {
      dups.addDuplicate(rowNo);
      return dups.take();
    });
    duplicates += kept.duplicates;
    parts.push(...kept.data);
  };
  for (const r of records) {
    batcher.add(r);
    if (batcher.size >= size) flush();
  }
  if (batcher.size) flush();
  return { text: Buffer.concat(parts).toString('utf8'), rows, duplicates };
}

const CSV = [
  'phone,country,first_name,tier,opted_in_at,consent_source',
  '(415) 555-2671,,Ann,gold,,',
  '+1 415 555 2671,,Bob,,2025-06-01T12:00:00Z,web', // a repeat of row 2
  '07400 123456,GB,"Chloé ""C""",silver,,',
  '0033 6 12 34 56 78,FR,"two',
  'lines",,,',
  '12345,,Eve,,,',
  'call me,,Farah,,,',
  '+44 7400 123456,,Guo,,,', // a repeat of row 4
  '+1 415 555 2672,,Hugo',
  '"open,,,,,',
  '',
  '+1 415 555 2673,,Ines,bronze,not a date,',
  '+1 415 555 2674,,José,,,import x',
  '(415) 555-2671,,Ann again,,,', // a repeat again
].join('\n');

describe('staging an import in batches on other threads', () => {
  it('writes exactly what row-by-row staging writes, whatever the batch size (CSV)', () => {
    const records = read(new CsvRecordReader(), CSV);
    const [header, ...rows] = records;
    const cx: ImportContext = {
      importId: IMPORT,
      workspaceId: WS,
      format: 'csv',
      header: mapHeader(csvFields((header as { text: string }).text)),
      defaultCountry: 'US',
      importedAt: +AT,
    };
    const want = oneByOne(rows, cx);
    expect(want.split('\n').filter(Boolean)).toHaveLength(rows.length);
    for (const size of [1, 2, 3, 5, 100]) {
      const got = inBatches(rows, cx, size);
      expect(got.text, `batches of ${size}`).toBe(want);
      expect(got.rows).toBe(rows.length);
      expect(got.duplicates).toBe(3);
    }
  });

  it('writes exactly what row-by-row staging writes (NDJSON, bad JSON and non-objects included)', () => {
    const input = [
      '{"phone":"+1 415 555 2671","tier":"gold","visits":3}',
      '{"phone":"(415) 555-2671"}',
      '{bad',
      '[1]',
      '{"phone":{"nested":1}}',
      '{"mobile":"07400 123456","country":"GB","opted_in_at":"2025-01-01"}',
    ].join('\n');
    const rows = read(new NdjsonRecordReader(), input);
    const cx: ImportContext = { importId: IMPORT, workspaceId: WS, format: 'ndjson', importedAt: +AT };
    const want = oneByOne(rows, cx);
    for (const size of [1, 4]) expect(inBatches(rows, cx, size).text).toBe(want);
  });

  it('batches records as line numbers and texts, a malformed record as its reason', () => {
    const b = new RecordBatcher();
    b.add({ line: 2, text: 'a,b' });
    b.add({ line: 3, malformed: 'invalid UTF-8' });
    expect(b.size).toBe(2);
    const cx = { importId: IMPORT, workspaceId: WS, format: 'csv', importedAt: 0 } as const;
    const batch = b.take(cx);
    expect([...batch.lines]).toEqual([2, 3]);
    expect(batch.texts).toEqual(['a,b', 'invalid UTF-8']);
    expect([...batch.malformed]).toEqual([0, 1]);
    expect(batch.context).toBe(cx);
    expect(b.size).toBe(0);
    expect(b.take(cx).lines).toHaveLength(0);
  });

  it('hands over buffers of its own, each once, so they can move between threads', () => {
    const rows = read(new NdjsonRecordReader(), '{"phone":"+1 415 555 2671"}\n{"phone":"x"}\n');
    const b = new RecordBatcher();
    rows.forEach((r) => b.add(r));
    const staged = stageRecords(
      b.take({ importId: IMPORT, workspaceId: WS, format: 'ndjson', importedAt: +AT }),
    );
    expect(staged.kept).toBe(1);
    expect([...staged.keptNumber]).toEqual([14155552671]);
    const buffers = transferablesOf(staged);
    expect(new Set(buffers).size).toBe(5);
    for (const ab of buffers) expect(ab).toBeInstanceOf(ArrayBuffer);
    const { port1 } = new MessageChannel();
    expect(() => port1.postMessage(staged, buffers)).not.toThrow();
    port1.close();
  });
});
