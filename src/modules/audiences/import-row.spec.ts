import { describe, expect, it } from 'vitest';
import { unsafeTextReason } from '../../infra/text/text-safety';
import { ndjsonValue } from './import-records';
import {
  ImportFormatError,
  malformedRow,
  mapHeader,
  prepareRow,
  rowFromFields,
  rowFromObject,
} from './import-row';

const at = new Date('2026-11-26T12:00:00Z');

describe('import rows', () => {
  it('maps the header: fields by name or alias, every other column an attribute', () => {
    const h = mapHeader(['Phone Number', 'First Name', 'Tier', 'country']);
    expect(h.fields).toEqual({ phone: 0, first_name: 1, country: 3 });
    expect(h.attributes).toEqual([['tier', 2]]);
    const row = rowFromFields(h, 2, ['(202) 555-0143', ' Ann ', 'gold', '']);
    expect(row).toMatchObject({ phone: '(202) 555-0143', first_name: 'Ann', country: null });
    expect(JSON.parse(row.attributes!)).toEqual({ tier: 'gold' });
  });

  it('writes attributes as JSON.stringify of an object of them would, index-like names included', () => {
    const values = ['+14155550123', ' gold ', '', 'say "hi" \\ ✓ \u0001', '12', 'x'];
    for (const header of [
      ['phone', 'tier', 'empty', 'note', 'visits', 'z'],
      ['phone', 'tier', 'empty', 'note', '7', 'z'], // "7" goes first in an object
      ['phone', 'tier', 'empty', 'note', '07', '4294967295'], // not array indexes
    ]) {
      const h = mapHeader(header);
      const attrs: Record<string, string> = {};
      for (const [name, i] of h.attributes) if (values[i].trim()) attrs[name] = values[i].trim();
      expect(rowFromFields(h, 2, values).attributes, header.join()).toBe(JSON.stringify(attrs));
    }
    expect(mapHeader(['phone', '7']).attributeKeys).toBeUndefined();
    expect(rowFromFields(mapHeader(['phone', 'a']), 2, ['1', ' ']).attributes).toBeNull();
  });

  it('refuses a header without a phone column, naming what it found', () => {
    expect(() => mapHeader(['name', 'email'])).toThrow(ImportFormatError);
    expect(() => mapHeader(['name', 'email'])).toThrow(/no "phone" column \(found: "name", "email"\)/);
  });

  it('marks a row with the wrong column count malformed', () => {
    const h = mapHeader(['phone', 'a']);
    expect(rowFromFields(h, 3, ['1', '2', '3']).malformed).toBe('expected 2 columns, found 3');
  });

  it('normalizes with the row country before the default, and refuses with reasons', () => {
    const h = mapHeader(['phone', 'country']);
    const gb = prepareRow(rowFromFields(h, 2, ['07400 123456', 'GB']), 'US', at);
    expect(gb).toMatchObject({ ok: true, contact: { e164: '+447400123456', country: 'GB' } });
    const us = prepareRow(rowFromFields(h, 3, ['(202) 555-0143', '']), 'US', at);
    expect(us).toMatchObject({ ok: true, contact: { e164: '+12025550143', country: 'US' } });
    const bad = prepareRow(rowFromFields(h, 4, ['12', '']), 'US', at);
    expect(bad).toMatchObject({ ok: false, reason: 'TOO_SHORT' });
    const none = prepareRow(rowFromFields(h, 5, ['', '']), 'US', at);
    expect(none).toMatchObject({ ok: false, reason: 'MISSING_PHONE' });
  });

  it('turns opted_in_at / consent_source into an opt-in, and refuses a bad date or zone', () => {
    const h = mapHeader(['phone', 'opted_in_at', 'consent_source', 'timezone']);
    const ok = prepareRow(
      rowFromFields(h, 2, ['+14155550123', '2025-01-02', 'web form', 'America/Chicago']),
      undefined,
      at,
    );
    expect(ok).toMatchObject({
      ok: true,
      contact: { optIn: { at: new Date('2025-01-02'), source: 'web form' } },
    });
    const srcOnly = prepareRow(rowFromFields(h, 3, ['+14155550123', '', 'kiosk', '']), undefined, at);
    expect(srcOnly).toMatchObject({ ok: true, contact: { optIn: { at, source: 'kiosk' } } });
    expect(
      prepareRow(rowFromFields(h, 4, ['+14155550123', 'yesterday', '', '']), undefined, at),
    ).toMatchObject({
      ok: false,
      reason: 'INVALID_OPTED_IN_AT',
    });
    expect(
      prepareRow(rowFromFields(h, 5, ['+14155550123', '', '', 'Mars/Base']), undefined, at),
    ).toMatchObject({
      ok: false,
      reason: 'INVALID_TIMEZONE',
    });
  });

  it('reads NDJSON objects: known fields as text, the rest as attributes with their JSON values', () => {
    const r = rowFromObject(1, { phone: 14155550123, tier: 'gold', score: 7, tags: ['a'] });
    expect(r.phone).toBe('14155550123');
    expect(JSON.parse(r.attributes!)).toEqual({ tier: 'gold', score: 7, tags: ['a'] });
    expect(rowFromObject(2, 'x').malformed).toBe('expected a JSON object');
    expect(rowFromObject(3, { phone: { a: 1 } }).malformed).toMatch(/field "phone" must be a string/);
  });

  it('refuses a CSV row with text Postgres cannot keep, naming the column', () => {
    const h = mapHeader(['Phone', 'First Name', 'tier']);
    const refused = (values: string[]) => prepareRow(rowFromFields(h, 7, values), 'US', at);
    expect(refused(['+14155550123', 'A\u0000nn', 'gold'])).toEqual({
      ok: false,
      row_no: 7,
      phone: '+14155550123',
      reason: 'INVALID_TEXT',
      detail: 'first_name contains U+0000 (NUL)',
    });
    expect(refused(['+14155550123', 'Ann', 'go\ud800ld'])).toMatchObject({
      reason: 'INVALID_TEXT',
      detail: 'tier contains an unpaired UTF-16 surrogate at character 2',
    });
    expect(refused(['+14155550123', '\ufffe', ''])).toMatchObject({
      detail: 'first_name contains the noncharacter U+FFFE',
    });
    expect(refused(['+14155550123', '', '\uffff'])).toMatchObject({
      detail: 'tier contains the noncharacter U+FFFF',
    });
    // An unsafe phone is refused as text too, and shown with the character replaced.
    expect(refused(['+1415555\u00000123', 'Ann', ''])).toMatchObject({
      phone: '+1415555\ufffd0123',
      reason: 'INVALID_TEXT',
      detail: 'phone contains U+0000 (NUL)',
    });
    // A pair is text like any other.
    expect(refused(['+14155550123', 'Ann \ud83d\ude9a', ''])).toMatchObject({ ok: true });
  });

  it('refuses an NDJSON row with unsafe text in a field, an attribute value or an attribute name', () => {
    const prep = (v: unknown) => prepareRow(rowFromObject(3, v), 'US', at);
    expect(prep({ first_name: 'A\u0000', phone: '+14155550123' })).toEqual({
      ok: false,
      row_no: 3,
      phone: '+14155550123',
      reason: 'INVALID_TEXT',
      detail: 'first_name contains U+0000 (NUL)',
    });
    const parsed = ndjsonValue('{"phone":"+14155550123","tags":["ok","\\udc00"]}');
    expect(prep('value' in parsed ? parsed.value : undefined)).toMatchObject({
      reason: 'INVALID_TEXT',
      detail: 'tags[1] contains an unpaired UTF-16 surrogate at character 0',
    });
    const key = prep({ phone: '+14155550123', notes: { 'by\u0000': 'x' } });
    expect(key).toMatchObject({ reason: 'INVALID_TEXT', detail: 'notes["by\\u0000"] contains U+0000 (NUL)' });
    expect(prep({ phone: '+14155550123', tier: 'gold', n: 1 })).toMatchObject({ ok: true });
    // Attributes keep no depth limit in imports: a deep one imported before the check came.
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = [deep];
    expect(prep({ phone: '+14155550123', deep })).toMatchObject({ ok: true });
  });

  it('never stages unsafe text in a refused row: phone and detail are shown with U+FFFD', () => {
    const bad = ndjsonValue('\u0000{');
    expect('malformed' in bad && unsafeTextReason(bad.malformed)).toBe('contains U+0000 (NUL)');
    const p = prepareRow(malformedRow(4, 'malformed' in bad ? bad.malformed : '', 'x\ud800'), 'US', at);
    expect(p).toMatchObject({ ok: false, reason: 'MALFORMED_ROW', phone: 'x\ufffd' });
    if (p.ok) throw new Error('expected a refusal');
    expect(unsafeTextReason(p.detail)).toBeUndefined();
    expect(p.detail).toContain('\ufffd');
    const h = mapHeader(['phone', 'a']);
    const short = prepareRow(rowFromFields(h, 5, ['\u0000']), 'US', at);
    expect(short).toMatchObject({ reason: 'MALFORMED_ROW', phone: '\ufffd' });
  });
});
