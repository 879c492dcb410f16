// Keyset pagination on the SQL side: what a repository needs to read one page of a list after a
// given sort key. The HTTP side (limit, cursor, the { data, next_cursor } envelope) is
// infra/http/pagination.ts.
import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely';

/** One page to read: the rows strictly after `after` in the list's order, `take` of them. */
export interface Keyset<K> {
  after?: K;
  /** The page size plus one, so the caller can tell whether a next page exists. */
  take: number;
}

/**
 * A timestamp column as text with Postgres's full microseconds, UTC (`2026-11-26T17:41:00.123456Z`).
 * A JS Date keeps milliseconds only: a cursor built from one would skip or repeat rows whose times
 * differ below the millisecond. Select it beside a row as its sort key.
 */
export function sortTime(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/**
 * A list read newest first by `(created_at, id)`: the rows after the cursor's sort key, `take` of
 * them. For tables whose list order is their creation (audiences, campaigns, inbox, API keys).
 */
export function newestFirst<DB, TB extends keyof DB, O>(
  q: SelectQueryBuilder<DB, TB, O>,
  page: Keyset<readonly [string, string]>,
): SelectQueryBuilder<DB, TB, O> {
  const after = page.after;
  const from = after
    ? q.where(sql<boolean>`(created_at, id) < (${after[0]}::timestamptz, ${after[1]}::uuid)`)
    : q;
  return from
    .orderBy(sql`created_at`, 'desc')
    .orderBy(sql`id`, 'desc')
    .limit(page.take);
}
