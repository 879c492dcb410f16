// Phone numbers as people type them (national formats with trunk prefixes, international dialling
// prefixes, tel:/sms: URIs, Arabic-Indic or fullwidth digits, invisible bidi marks from copy-paste)
// turned into E.164, or a refusal with a reason an import report or a 400 can show. Pure: imports
// call it for every row, the messages API for every recipient.
import {
  CountryCode,
  getCountries,
  getCountryCallingCode,
  isSupportedCountry,
  ParseError,
  parsePhoneNumberWithError,
  PhoneNumber,
  validatePhoneNumberLength,
} from 'libphonenumber-js/max';
import { BoundedCache } from './bounded-cache';
import { validInternational, validNational, ValidNumber } from './numbering-plan';

export type PhoneRefusal =
  'INVALID_NUMBER' | 'TOO_SHORT' | 'TOO_LONG' | 'INVALID_COUNTRY' | 'NOT_MOBILE' | 'MISSING_PHONE';

export type NormalizedPhone =
  | { ok: true; e164: string; country: string | null; lineType: string | null }
  | { ok: false; reason: PhoneRefusal; detail: string };

export interface NormalizeOptions {
  /** Refuse numbers whose type is known to be fixed-line (ambiguous fixed-or-mobile passes). */
  requireMobile?: boolean;
  /**
   * The row's own country (ISO 3166-1 alpha-2, e.g. from an import's `country` column); wins over
   * `defaultCountry` when present. A blank value falls back to the default.
   */
  country?: string | null;
  /**
   * Remember the answer (default). An import sees each number of its file about once, where
   * building the key, missing and storing cost a fifth of the normalization.
   */
  memo?: boolean;
}

/**
 * Normalizes one phone number to E.164. `defaultCountry` (ISO alpha-2) reads national formats;
 * numbers written internationally (`+…`, `00…`/`011…` from that country, `tel:+…`) need none.
 * Only numbers libphonenumber's full metadata calls valid are accepted.
 */
export function normalizePhone(
  input: string | null | undefined,
  defaultCountry?: string,
  opts: NormalizeOptions = {},
): NormalizedPhone {
  if (input === null || input === undefined || input.trim() === '') {
    return refuse('MISSING_PHONE', 'no phone number given');
  }
  const rowCountry = opts.country?.trim() ? opts.country : undefined;
  const countryText = rowCountry ?? defaultCountry;
  if (opts.memo === false) return compute(input, countryText, opts.requireMobile === true);
  const key = `${countryText ?? ''}\u0000${opts.requireMobile ? 1 : 0}\u0000${input}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const result = Object.freeze(compute(input, countryText, opts.requireMobile === true)) as NormalizedPhone;
  cache.set(key, result);
  return result;
}

/**
 * Maps a country as spreadsheets give it ("gb", "UK", " us ", "France", "united kingdom") to a
 * supported ISO 3166 alpha-2 code, or undefined.
 */
export function countryCode(country: string | null | undefined): CountryCode | undefined {
  if (!country) return undefined;
  const c = country.trim().toUpperCase();
  if (/^[A-Z]{2}$/.test(c)) {
    // "UK" is not ISO 3166 but is what British spreadsheets say.
    const iso = c === 'UK' ? 'GB' : c;
    return isSupportedCountry(iso as CountryCode) ? (iso as CountryCode) : undefined;
  }
  return countriesByName().get(c);
}

let byName: Map<string, CountryCode> | undefined;

/** English country names (as ICU spells them, upper case) to ISO codes; built on first use. */
function countriesByName(): Map<string, CountryCode> {
  if (!byName) {
    const names = new Intl.DisplayNames(['en'], { type: 'region' });
    byName = new Map();
    for (const iso of getCountries()) {
      const name = names.of(iso);
      if (name) byName.set(name.toUpperCase(), iso);
    }
    for (const [alias, iso] of [
      ['USA', 'US'],
      ['UNITED STATES OF AMERICA', 'US'],
      ['GREAT BRITAIN', 'GB'],
      ['ENGLAND', 'GB'],
      ['SCOTLAND', 'GB'],
      ['WALES', 'GB'],
      ['NORTHERN IRELAND', 'GB'],
    ] as const) {
      byName.set(alias, iso);
    }
  }
  return byName;
}

/**
 * The number as written, or if that is refused, the first other reading people mean by it that is
 * valid (see otherReadings); the refusal of the reading as written otherwise.
 */
function compute(input: string, countryText: string | undefined, requireMobile: boolean): NormalizedPhone {
  const first = computeOnce(input, input, countryText, requireMobile);
  if (first.ok) return first;
  for (const alt of otherReadings(input, countryCode(countryText))) {
    const r = computeOnce(alt, input, undefined, requireMobile);
    if (r.ok || r.reason === 'NOT_MOBILE') return r;
  }
  return first;
}

/**
 * Readings of a refused number that are still unambiguous:
 * - `00…` in North America, whose international prefix is 011: the number can only be
 *   international, written the European way (no North American number starts with 0).
 * - Mexico's mobile prefixes retired in 2019 (`+52 1` before the ten digits; `044`/`045` or `1`
 *   nationally), which CRM exports still carry: the number is the ten digits after them.
 */
function otherReadings(input: string, country: CountryCode | undefined): string[] {
  const text = canonicalText(input);
  if (typeof text !== 'string') return [];
  const digits = text.replace(/\D/g, '');
  const international = text.trim().startsWith('+');
  const out: string[] = [];
  const nanp = country !== undefined && getCountryCallingCode(country) === '1';
  const idd = nanp ? /^(?:011|00)/.exec(digits)?.[0] : undefined;
  const intl = international ? digits : idd ? digits.slice(idd.length) : undefined;
  if (intl !== undefined) {
    if (idd === '00') out.push(`+${intl}`);
    if (/^521\d{10}$/.test(intl)) out.push(`+52${intl.slice(3)}`);
  }
  if (country === 'MX' && !international) {
    const m = /^(?:1|04[45])(\d{10})$/.exec(digits);
    if (m) out.push(`+52${m[1]}`);
  }
  return out;
}

function computeOnce(
  text0: string,
  input: string,
  countryText: string | undefined,
  requireMobile: boolean,
): NormalizedPhone {
  const country = countryCode(countryText);
  const badCountry = countryText !== undefined && countryText.trim() !== '' && !country;
  const text = canonicalText(text0);
  if (typeof text !== 'string') return text;
  if (!/\d/.test(text)) return refuse('INVALID_NUMBER', `${shown(input)} has no digits`);
  // Without a country there is no IDD to strip, but "00" is the international prefix of most of
  // the world (all of Europe), so a number written that way is still unambiguous.
  const candidate = !country && text.startsWith('00') ? `+${text.slice(2)}` : text;

  const fast = fastPath(candidate, country);
  if (fast) {
    if (requireMobile && fast.type === 'FIXED_LINE') return notMobile(fast.e164);
    return { ok: true, e164: fast.e164, country: fast.country ?? null, lineType: fast.type.toLowerCase() };
  }

  let phone: PhoneNumber;
  try {
    phone = parsePhoneNumberWithError(candidate, { defaultCountry: country });
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    switch (e.message) {
      case 'INVALID_COUNTRY':
        if (badCountry) return refuse('INVALID_COUNTRY', `unknown country ${shown(countryText!)}`);
        return candidate.startsWith('+')
          ? refuse('INVALID_COUNTRY', `${shown(input)} has no known country calling code`)
          : refuse('INVALID_COUNTRY', `${shown(input)} is not international (+…) and no country was given`);
      case 'TOO_SHORT':
        return refuse('TOO_SHORT', `${shown(input)} is too short to be a phone number`);
      case 'TOO_LONG':
        return refuse('TOO_LONG', `${shown(input)} is too long to be a phone number`);
      default:
        return refuse('INVALID_NUMBER', `${shown(input)} is not a phone number`);
    }
  }
  if (phone.ext) {
    return refuse(
      'INVALID_NUMBER',
      `${shown(input)} has an extension (${phone.ext}); a text cannot reach one`,
    );
  }
  // With the full metadata every country has type patterns, so a number is valid exactly when it
  // has a type: asking once saves libphonenumber matching the same patterns twice.
  const type = phone.getType();
  if (type === undefined) {
    const where = phone.country ?? `+${phone.countryCallingCode}`;
    const length = validatePhoneNumberLength(phone.number);
    if (length === 'TOO_SHORT') return refuse('TOO_SHORT', `${shown(input)} is too short for ${where}`);
    if (length === 'TOO_LONG') return refuse('TOO_LONG', `${shown(input)} is too long for ${where}`);
    return refuse('INVALID_NUMBER', `${shown(input)} is not a valid number in ${where}`);
  }
  if (requireMobile && type === 'FIXED_LINE') return notMobile(phone.number);
  return { ok: true, e164: phone.number, country: phone.country ?? null, lineType: type.toLowerCase() };
}

/** Plain digits, optionally with "+" and the punctuation people write numbers with. */
const PLAIN = /^\+?[\d\s\-()./]+$/;

/**
 * Valid numbers in the common shapes, answered from precompiled patterns (numbering-plan.ts);
 * undefined sends the input through libphonenumber, which also explains refusals.
 */
function fastPath(text: string, country: CountryCode | undefined): ValidNumber | undefined {
  if (!PLAIN.test(text)) return undefined;
  const digits = text.replace(/\D/g, '');
  if (text.startsWith('+')) return validInternational(digits);
  return country ? validNational(digits, country) : undefined;
}

function notMobile(e164: string): NormalizedPhone {
  return refuse('NOT_MOBILE', `${e164} is a fixed line; it cannot receive texts`);
}

const TEL_URI = /^(?:tel|sms|smsto):/i;

/**
 * Reduces what people paste to what libphonenumber reads: ASCII digits, `+`, punctuation. Returns a
 * refusal for URIs it cannot use.
 */
function canonicalText(input: string): string | NormalizedPhone {
  let s = input.trim();
  // Everything below only matters for non-ASCII input; the common case skips it.
  if (/[^\x20-\x7e]/.test(s)) s = asciiDigits(s);
  if (TEL_URI.test(s)) return fromUri(s, input);
  return s;
}

/** RFC 3966 (tel:) and RFC 5724 (sms:): a global number, or a local one with a `+…` phone-context. */
function fromUri(uri: string, input: string): string | NormalizedPhone {
  let rest = uri.replace(TEL_URI, '');
  try {
    rest = decodeURIComponent(rest);
  } catch {
    return refuse('INVALID_NUMBER', `${shown(input)} is not a valid tel: URI`);
  }
  rest = rest.replace(/^\/\//, '').split('?')[0];
  if (rest.includes(',')) return refuse('INVALID_NUMBER', `${shown(input)} names more than one recipient`);
  const [number, ...params] = rest.split(';');
  if (!number) return refuse('MISSING_PHONE', `${shown(input)} names no number`);
  const context = params.find((p) => /^phone-context=/i.test(p))?.slice('phone-context='.length);
  if (params.some((p) => /^ext=/i.test(p))) {
    return refuse('INVALID_NUMBER', `${shown(input)} has an extension; a text cannot reach one`);
  }
  // A `+…` context is the leading digits of the global number; a domain context says the number
  // is local to that domain, which leaves it to the default country.
  if (!number.startsWith('+') && context?.startsWith('+')) {
    return `+${context.replace(/[^\d]/g, '')}${number.replace(/[^\d]/g, '')}`;
  }
  return number;
}

/** Decimal digits of any script as ASCII; fullwidth plus as "+"; invisible and odd spaces dropped. */
function asciiDigits(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out += ch;
    else if (DIGIT.test(ch)) out += String(digitValue(cp));
    else if (ch === '\uff0b' || ch === '\u2795') out += '+';
    else if (FORMAT.test(ch)) continue;
    else if (SPACE.test(ch)) out += ' ';
    else if (DASH.test(ch)) out += '-';
    else out += ch;
  }
  return out;
}

const DIGIT = /^\p{Nd}$/u;
const FORMAT = /^\p{Cf}$/u;
const SPACE = /^\p{Zs}$/u;
const DASH = /^\p{Pd}$/u;
const digitValues = new Map<number, number>();

/**
 * Unicode guarantees every script's decimal digits are ten consecutive code points 0…9, and runs
 * of them (the mathematical digits) are whole sets of ten, so a digit's value is its distance from
 * the start of its run, modulo ten.
 */
function digitValue(cp: number): number {
  let v = digitValues.get(cp);
  if (v === undefined) {
    let start = cp;
    while (DIGIT.test(String.fromCodePoint(start - 1))) start--;
    v = (cp - start) % 10;
    digitValues.set(cp, v);
  }
  return v;
}

/** The input as quoted in a refusal: an import row can hold anything, a report line should not. */
function shown(input: string): string {
  const s = input.length > 40 ? `${input.slice(0, 37)}...` : input;
  return JSON.stringify(s);
}

function refuse(reason: PhoneRefusal, detail: string): NormalizedPhone {
  return { ok: false, reason, detail };
}

// Sends and imports see the same numbers again and again (a campaign's audience, a customer's
// thread); parsing costs tens of microseconds, a map lookup well under one.
const cache = new BoundedCache<string, NormalizedPhone>(50_000);
