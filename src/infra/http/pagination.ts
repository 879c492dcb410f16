// Every /v1 list answers { data, next_cursor } and takes `limit` (1–1000) and `cursor`. A cursor is
// the base64url JSON of the last row's sort key; the next page is the rows strictly after it in the
// list's order, read by the repository (keyset pagination, infra/db/keyset.ts). A cursor is
// decoded and checked against the list's key before any query, so a bad one is a 400 naming it.
import { z } from 'zod/v4';
import type { Keyset } from '../db/keyset';
import { UUID_PATTERN } from '../ids/uuid';

export const MAX_LIMIT = 1_000;

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** A UUID as Postgres prints it (any version: message ids are deterministic, not v4). */
export const uuidKey = z.string().regex(UUID_PATTERN, 'a UUID');

/** A timestamp as `sortTime` (infra/db/keyset.ts) prints it: UTC, microseconds. */
export const timeKey = z
  .string()
  .regex(/^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, 'a UTC timestamp with microseconds')
  .refine((s) => {
    const t = Date.parse(s);
    // A date the calendar lacks (Feb 30) parses to another day in some engines; Postgres refuses it.
    return Number.isFinite(t) && new Date(t).toISOString().slice(0, 23) === s.slice(0, 23);
  }, 'a valid timestamp');

/** The key of lists ordered by (created_at, id). */
export const createdKey = z.tuple([timeKey, uuidKey]);

export function encodeCursor(key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor carries, or undefined when it is not one this list gave. */
export function decodeCursor<K extends z.ZodType>(keySchema: K, cursor: string): z.infer<K> | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const r = keySchema.safeParse(json);
  return r.success ? r.data : undefined;
}

/** The query fields of a list: `limit` (default `defaultLimit`) and `cursor`, decoded to its key. */
export function pageQuery<K extends z.ZodType>(keySchema: K, defaultLimit = 50) {
  return z.object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_LIMIT)
      .default(defaultLimit)
      .describe(`page size, 1–${MAX_LIMIT}`),
    cursor: z
      .string()
      .max(1_024)
      .transform((s, ctx): z.infer<K> => {
        const key = decodeCursor(keySchema, s);
        if (key === undefined) {
          ctx.issues.push({
            code: 'custom',
            message: 'not a cursor this list gave (use next_cursor)',
            input: s,
          });
          return z.NEVER;
        }
        return key;
      })
      .optional()
      .describe('next_cursor of the previous page'),
  });
}

/** What the repository reads for a parsed query: the rows after the cursor, one more than a page. */
export function keysetOf<K>(q: { limit: number; cursor?: K }): Keyset<K> {
  return { after: q.cursor, take: q.limit + 1 };
}

/** The envelope of a page read with `keysetOf`: `limit` rows and the cursor of the last, if more follow. */
export function page<R>(rows: readonly R[], limit: number, keyOf: (row: R) => readonly unknown[]): Page<R> {
  if (rows.length <= limit) return { data: rows.slice(), next_cursor: null };
  const data = rows.slice(0, limit);
  return { data, next_cursor: encodeCursor(keyOf(data[data.length - 1])) };
}

/** A list small and fixed enough (from the carriers file) to answer whole. */
export function whole<T>(data: T[]): Page<T> {
  return { data, next_cursor: null };
}
