// What one row of an import means: the header's columns mapped to contact fields (the rest become
// attributes), a row made ready for staging, and a staged row checked and normalized into a
// contact (or refused with a reason for the errors report). Pure: no framework, no I/O.
import { findUnsafeText, replaceUnsafeText, unsafeTextReason } from '../../infra/text/text-safety';
import { normalizePhone } from '../carriers/phone-number';
import type { ContactDetails } from './audiences.tables';

export const CONTACT_FIELDS = [
  'phone',
  'country',
  'first_name',
  'last_name',
  'email',
  'timezone',
  'opted_in_at',
  'consent_source',
] as const;
export type ContactField = (typeof CONTACT_FIELDS)[number];

/** Other headers CRMs use for the same field. */
const ALIASES: Record<string, ContactField> = {
  phone_number: 'phone',
  mobile: 'phone',
  mobile_number: 'phone',
  msisdn: 'phone',
  firstname: 'first_name',
  lastname: 'last_name',
  email_address: 'email',
  time_zone: 'timezone',
  tz: 'timezone',
};

export type RowRefusal =
  | 'INVALID_NUMBER'
  | 'TOO_SHORT'
  | 'TOO_LONG'
  | 'INVALID_COUNTRY'
  | 'NOT_MOBILE'
  | 'MISSING_PHONE'
  | 'MALFORMED_ROW'
  | 'INVALID_TIMEZONE'
  | 'INVALID_OPTED_IN_AT'
  | 'INVALID_TEXT';

/** A row as staged: the contact fields as text, other columns as a JSON object text. */
export interface StagedRow {
  row_no: number;
  phone: string | null;
  country: string | null;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  timezone: string | null;
  opted_in_at: string | null;
  consent_source: string | null;
  attributes: string | null;
  /** Set when the row could not be read at all (MALFORMED_ROW). */
  malformed: string | null;
  /**
   * Set when a column holds text Postgres cannot keep as written (INVALID_TEXT): the column and
   * why, e.g. `first_name contains U+0000 (NUL)`. Staged as it was, the row would fail the COPY
   * of its whole batch, and so the import.
   */
  unsafeText?: string | null;
}

export class ImportFormatError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface HeaderMap {
  columns: number;
  /** Index of each contact field present in the header. */
  fields: Partial<Record<ContactField, number>>;
  /** Attribute name and column index of every other column. */
  attributes: [string, number][];
  /**
   * `"name":` of each attribute, to write a row's attributes as JSON text directly; absent when a
   * name is an array index ("7"), which an object (and so JSON.stringify) puts first.
   */
  attributeKeys?: string[];
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

export function headerName(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/** Maps a CSV header; throws naming the problem when there is no phone column or a name repeats. */
export function mapHeader(header: string[]): HeaderMap {
  const fields: HeaderMap['fields'] = {};
  const attributes: [string, number][] = [];
  const seen = new Set<string>();
  header.forEach((raw, i) => {
    const name = headerName(raw) || `column_${i + 1}`;
    if (seen.has(name)) throw new ImportFormatError('header', `column "${raw.trim()}" appears twice`);
    seen.add(name);
    const field = (CONTACT_FIELDS as readonly string[]).includes(name)
      ? (name as ContactField)
      : ALIASES[name];
    if (field && fields[field] === undefined) fields[field] = i;
    else attributes.push([name, i]);
  });
  if (fields.phone === undefined) {
    throw new ImportFormatError(
      'header',
      `no "phone" column (found: ${header.map((h) => JSON.stringify(h.trim())).join(', ') || 'none'})`,
    );
  }
  const plainNames = attributes.every(([name]) => !(ARRAY_INDEX.test(name) && Number(name) < 2 ** 32 - 1));
  return {
    columns: header.length,
    fields,
    attributes,
    attributeKeys: plainNames ? attributes.map(([name]) => `${JSON.stringify(name)}:`) : undefined,
  };
}

const text = (v: string | undefined): string | null => {
  if (v === undefined) return null;
  const t = v.trim();
  return t === '' ? null : t;
};

export function malformedRow(row_no: number, detail: string, phone: string | null = null): StagedRow {
  return {
    row_no,
    phone,
    country: null,
    first_name: null,
    last_name: null,
    email: null,
    timezone: null,
    opted_in_at: null,
    consent_source: null,
    attributes: null,
    malformed: detail,
  };
}

function unsafeTextRow(row_no: number, detail: string, phone: string | null): StagedRow {
  const row = malformedRow(row_no, '', phone);
  row.malformed = null;
  row.unsafeText = detail;
  return row;
}

/** The name a column has in reports: its contact field or its attribute name. */
function columnName(map: HeaderMap, i: number): string {
  for (const [field, at] of Object.entries(map.fields)) if (at === i) return field;
  return map.attributes.find(([, at]) => at === i)?.[0] ?? `column_${i + 1}`;
}

export function rowFromFields(map: HeaderMap, row_no: number, values: string[]): StagedRow {
  if (values.length !== map.columns) {
    const phone = map.fields.phone !== undefined ? text(values[map.fields.phone]) : null;
    return malformedRow(row_no, `expected ${map.columns} columns, found ${values.length}`, phone);
  }
  // One precompiled regex test per field: linear, and small beside the normalizing that follows.
  for (let i = 0; i < values.length; i++) {
    const reason = unsafeTextReason(values[i]);
    if (reason !== undefined) {
      const phone = map.fields.phone !== undefined ? text(values[map.fields.phone]) : null;
      return unsafeTextRow(row_no, `${columnName(map, i)} ${reason}`, phone);
    }
  }
  const f = map.fields;
  const pick = (k: ContactField) => (f[k] === undefined ? null : text(values[f[k]!]));
  let attributes: string | null = null;
  const keys = map.attributeKeys;
  if (keys) {
    // What JSON.stringify of the object below writes, without building the object.
    let json = '';
    for (let k = 0; k < keys.length; k++) {
      const v = values[map.attributes[k][1]].trim();
      if (v !== '') json += (json ? ',' : '{') + keys[k] + JSON.stringify(v);
    }
    if (json) attributes = `${json}}`;
  } else if (map.attributes.length) {
    const attrs: Record<string, string> = {};
    let any = false;
    for (const [name, i] of map.attributes) {
      const v = values[i].trim();
      if (v !== '') {
        attrs[name] = v;
        any = true;
      }
    }
    if (any) attributes = JSON.stringify(attrs);
  }
  return {
    row_no,
    phone: pick('phone'),
    country: pick('country'),
    first_name: pick('first_name'),
    last_name: pick('last_name'),
    email: pick('email'),
    timezone: pick('timezone'),
    opted_in_at: pick('opted_in_at'),
    consent_source: pick('consent_source'),
    attributes,
    malformed: null,
  };
}

/** An NDJSON object: the same fields by name; any other key is an attribute with its JSON value. */
export function rowFromObject(row_no: number, value: unknown): StagedRow {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return malformedRow(row_no, 'expected a JSON object');
  }
  const row = malformedRow(row_no, '');
  row.malformed = null;
  const attrs: Record<string, unknown> = {};
  let any = false;
  // The first unsafe field; the loop goes on so the refused row shows its phone.
  let unsafeText: string | undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = headerName(k) || k;
    const field = (CONTACT_FIELDS as readonly string[]).includes(name)
      ? (name as ContactField)
      : ALIASES[name];
    if (field && row[field] === null) {
      if (v === null || v === undefined) continue;
      if (typeof v === 'object') {
        return malformedRow(
          row_no,
          `field "${k}" must be a string, not ${Array.isArray(v) ? 'an array' : 'an object'}`,
        );
      }
      const s = String(v);
      const reason = unsafeText === undefined ? unsafeTextReason(s) : undefined;
      if (reason !== undefined) unsafeText = `${field} ${reason}`;
      row[field] = text(s);
    } else if (v !== null && v !== undefined) {
      attrs[k] = v;
      any = true;
    }
  }
  if (unsafeText === undefined && any) {
    // Attribute names and every string inside their values go to jsonb, which refuses the same
    // characters. No depth limit here: a deep attribute imported before and still does.
    const unsafe = findUnsafeText(attrs, '', { maxDepth: Infinity });
    if (unsafe) unsafeText = `${unsafe.path} ${unsafe.reason}`;
  }
  if (unsafeText !== undefined) return unsafeTextRow(row_no, unsafeText, row.phone);
  if (any) row.attributes = JSON.stringify(attrs);
  return row;
}

export interface PreparedContact extends ContactDetails {
  row_no: number;
  e164: string;
  attributes: string;
  /** Present when the row carries consent (opted_in_at and/or consent_source). */
  optIn: { at: Date; source: string } | null;
}

export type Prepared =
  | { ok: true; contact: PreparedContact }
  | { ok: false; row_no: number; phone: string | null; reason: RowRefusal; detail: string };

const zones = new Map<string, boolean>();
function knownTimezone(tz: string): boolean {
  let ok = zones.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    if (zones.size < 10_000) zones.set(tz, ok);
  }
  return ok;
}

/** How far in the future a consent timestamp may be (clock skew between systems). */
const CONSENT_FUTURE_TOLERANCE_MS = 24 * 3600 * 1000;

/**
 * Checks and normalizes one staged row. The row's `country` reads its national format before
 * the import's default country; consent without a time is consent given at `importedAt`.
 */
export function prepareRow(row: StagedRow, defaultCountry: string | undefined, importedAt: Date): Prepared {
  // What a refused row shows (the phone as written, a parser's message quoting the line) is
  // stored too: unsafe characters in it are replaced, or the report would fail the import.
  const refuse = (reason: RowRefusal, detail: string): Prepared => ({
    ok: false,
    row_no: row.row_no,
    phone: row.phone === null ? null : replaceUnsafeText(row.phone),
    reason,
    detail: replaceUnsafeText(detail),
  });
  if (row.malformed !== null) return refuse('MALFORMED_ROW', row.malformed);
  if (row.unsafeText) return refuse('INVALID_TEXT', row.unsafeText);
  const n = normalizePhone(row.phone, defaultCountry, { country: row.country, memo: false });
  if (!n.ok) return refuse(n.reason, n.detail);
  if (row.timezone !== null && !knownTimezone(row.timezone)) {
    return refuse('INVALID_TIMEZONE', `timezone "${row.timezone}" is not an IANA time zone`);
  }
  let optIn: PreparedContact['optIn'] = null;
  if (row.opted_in_at !== null || row.consent_source !== null) {
    let at = importedAt;
    if (row.opted_in_at !== null) {
      const t = Date.parse(row.opted_in_at);
      if (Number.isNaN(t)) {
        return refuse('INVALID_OPTED_IN_AT', `opted_in_at "${row.opted_in_at}" is not a date`);
      }
      if (t > importedAt.getTime() + CONSENT_FUTURE_TOLERANCE_MS) {
        return refuse('INVALID_OPTED_IN_AT', `opted_in_at "${row.opted_in_at}" is in the future`);
      }
      at = new Date(t);
    }
    optIn = { at, source: row.consent_source ?? 'import' };
  }
  return {
    ok: true,
    contact: {
      row_no: row.row_no,
      e164: n.e164,
      country: n.country,
      line_type: n.lineType,
      first_name: row.first_name,
      last_name: row.last_name,
      email: row.email,
      timezone: row.timezone,
      attributes: row.attributes ?? '{}',
      optIn,
    },
  };
}
