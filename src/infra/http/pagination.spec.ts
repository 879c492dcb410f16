import { describe, expect, it } from 'vitest';
import { z } from 'zod/v4';
import { ApiError } from './api-error';
import { createdKey, decodeCursor, encodeCursor, keysetOf, page, pageQuery, whole } from './pagination';
import { parseOrThrow } from './zod';

const AT = '2026-11-26T17:41:00.123456Z';
const ID = '0b9f6a3e-58a1-4c55-9d43-2f1c0a7e9b10';
const query = pageQuery(createdKey, 50);

function badField(raw: Record<string, unknown>): string | undefined {
  try {
    parseOrThrow(query, raw);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    expect(e.getStatus()).toBe(400);
    return (e.details as { issues: { path: string }[] }).issues[0]?.path;
  }
  return undefined;
}

describe('pageQuery', () => {
  it('defaults the limit and leaves the cursor out', () => {
    expect(parseOrThrow(query, {})).toEqual({ limit: 50 });
  });

  it('reads a limit from the query string', () => {
    expect(parseOrThrow(query, { limit: '1' }).limit).toBe(1);
    expect(parseOrThrow(query, { limit: '1000' }).limit).toBe(1000);
  });

  it.each(['-1', '0', '1e9', '1001', 'abc', '2.5', ''])('refuses limit=%j naming limit', (limit) => {
    expect(badField({ limit })).toBe('limit');
  });

  it('decodes a cursor to its key', () => {
    expect(parseOrThrow(query, { cursor: encodeCursor([AT, ID]) })).toEqual({ limit: 50, cursor: [AT, ID] });
  });

  it.each([
    ['not base64url', '!!!'],
    ['not JSON', Buffer.from('{oops').toString('base64url')],
    ['a wrong shape', encodeCursor([AT])],
    ['a millisecond time', encodeCursor(['2026-11-26T17:41:00.123Z', ID])],
    ['an impossible time', encodeCursor(['2026-13-45T25:61:00.000000Z', ID])],
    ['a day the calendar lacks', encodeCursor(['2026-02-30T00:00:00.000000Z', ID])],
    ['a non-UUID id', encodeCursor([AT, "1' or '1'='1"])],
    ['too long', 'A'.repeat(2_000)],
  ])('refuses a cursor that is %s naming cursor', (_what, cursor) => {
    expect(badField({ cursor })).toBe('cursor');
  });

  it('refuses a repeated cursor', () => {
    expect(badField({ cursor: [encodeCursor([AT, ID]), encodeCursor([AT, ID])] })).toBe('cursor');
  });
});

describe('cursors', () => {
  it('round-trip a key', () => {
    const keys = z.tuple([z.number()]);
    expect(decodeCursor(keys, encodeCursor([42]))).toEqual([42]);
    expect(encodeCursor([42])).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('page', () => {
  const rows = [1, 2, 3, 4].map((n) => ({ n }));
  const keyOf = (r: { n: number }) => [r.n];

  it('reads one more row than the page', () => {
    expect(keysetOf({ limit: 3, cursor: [AT, ID] })).toEqual({ after: [AT, ID], take: 4 });
  });

  it('cuts at the limit and points at the last row kept when more follow', () => {
    const p = page(rows, 3, keyOf);
    expect(p.data).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(decodeCursor(z.tuple([z.number()]), p.next_cursor ?? '')).toEqual([3]);
  });

  it('ends with a null cursor when nothing follows', () => {
    expect(page(rows, 4, keyOf)).toEqual({ data: rows, next_cursor: null });
    expect(page([], 4, keyOf)).toEqual({ data: [], next_cursor: null });
  });

  it('answers a fixed list whole', () => {
    expect(whole(['a'])).toEqual({ data: ['a'], next_cursor: null });
  });
});
