import { describe, expect, it } from 'vitest';
import { ImportFormatError, mapHeader, prepareRow, rowFromFields, rowFromObject } from './import-row';

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
});
