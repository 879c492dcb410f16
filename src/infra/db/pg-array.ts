// Postgres array literals for bulk statements (INSERT … SELECT FROM unnest($1::text[], …)). The
// pg driver's own array serializer escapes every element with several regular expressions, which
// cost more than the database's whole insert for a million rows; these write the literal in one
// pass. Every element is double-quoted, so commas, braces, spaces, '' and the text NULL are safe;
// inside quotes only " and \ need escaping. Pure.

const NEEDS_ESCAPE = /["\\]/;

export function textArray(values: readonly (string | null | undefined)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (NEEDS_ESCAPE.test(v)) parts[i] = `"${v.replace(/["\\]/g, '\\$&')}"`;
    else parts[i] = `"${v}"`;
  }
  return `{${parts.join(',')}}`;
}

export function intArray(values: readonly number[]): string {
  for (const v of values) if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`);
  return `{${values.join(',')}}`;
}
