// Owns when a marketing message may reach a recipient: the recipient's time zone (the contact's own,
// else derived from the number), the legal local window for that number (08:00–21:00, stricter in the
// states whose law is stricter), and the instant a held message may next leave. Pure: the dispatcher
// and the scheduler call it per message, the plan calls it per recipient, tests drive it with a fake
// clock. All date math goes through Intl (full ICU in Node 20), so DST and half-hour zones are real.

import { getCountries, getCountryCallingCode, parsePhoneNumberFromString } from 'libphonenumber-js';
import { z } from 'zod/v4';
import { loadDataFile } from '../../infra/data-file';

export interface QuietHoursWindow {
  /** Local time the window opens, 'HH:MM' (inclusive). */
  start: string;
  /** Local time the window closes, 'HH:MM' (exclusive). */
  end: string;
}

/** A quiet-hours setting the API must refuse; `field` is what the 400 names. */
export class QuietHoursError extends Error {
  readonly field = 'quiet_hours';
  constructor(reason: string) {
    super(`quiet_hours: ${reason}`);
    this.name = 'QuietHoursError';
  }
}

export const DEFAULT_WINDOW: QuietHoursWindow = { start: '08:00', end: '21:00' };

/**
 * States whose telemarketing / "mini-TCPA" laws allow fewer hours than the federal 8 a.m.–9 p.m.
 * (Florida Telephone Solicitation Act, Oklahoma Telephone Solicitation Act, RCW 80.36.390,
 * Connecticut Public Act 23-98, Maryland Stop the Spam Calls Act). Texas and others restrict days
 * rather than hours and are not modelled here.
 */
export const STATE_WINDOWS: Readonly<Record<string, QuietHoursWindow>> = {
  FL: { start: '08:00', end: '20:00' },
  OK: { start: '08:00', end: '20:00' },
  WA: { start: '08:00', end: '20:00' },
  CT: { start: '08:00', end: '20:00' },
  MD: { start: '08:00', end: '20:00' },
};

// ── Time zones ───────────────────────────────────────────────────────────────────────────────────

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One formatter per zone: constructing them is the expensive part of Intl. Throws on an unknown zone. */
function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, f);
  }
  return f;
}

/**
 * Whether a contact's stored zone can be trusted. Region names only: bare abbreviations such as
 * "EST" are valid tzdb names but fixed offsets (no daylight time), which is never what people mean.
 */
export function isValidTimezone(tz: unknown): tz is string {
  if (typeof tz !== 'string') return false;
  const name = tz.trim();
  if (name !== 'UTC' && !/^[A-Za-z]+(?:\/[A-Za-z0-9_+-]+)+$/.test(name)) return false;
  try {
    formatterFor(name);
    return true;
  } catch {
    return false;
  }
}

// ── Area codes and countries ─────────────────────────────────────────────────────────────────────
// Both tables are data (data/*.json), read and checked once when this module loads: a zone Intl does
// not know, a malformed or doubled area code or an unknown country stops the process at start.

const zone = z
  .string()
  .refine((tz) => tz === tz.trim() && isValidTimezone(tz), 'must be a region time zone Intl knows');
const areaCode = z.string().regex(/^[2-9](?!11)\d\d$/, 'must be a three-digit area code (not N11)');

// Regions with their zone and area codes; `split` names the codes that keep another zone, `note` why.
const areaCodeFileSchema = z
  .array(
    z
      .strictObject({
        region: z.string().regex(/^[A-Z]{2}$/, 'must be two capital letters'),
        country: z.enum(['US', 'CA']),
        zone,
        // One string per region ("205 251 256") keeps the file a line per region.
        codes: z
          .string()
          .transform((codes) => codes.split(' '))
          .pipe(z.array(areaCode)),
        split: z.record(areaCode, zone).optional(),
        note: z.string().min(1).optional(),
      })
      .refine((r) => Object.keys(r.split ?? {}).every((code) => r.codes.includes(code)), {
        message: 'split names an area code the region does not list',
        path: ['split'],
      }),
  )
  .min(1)
  .superRefine((regions, ctx) => {
    const seen = new Map<string, string>();
    regions.forEach((r, i) => {
      for (const code of r.codes) {
        const other = seen.get(code);
        if (other !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [i, 'codes'],
            message: `${code} is listed twice (${other}, ${r.region})`,
          });
        seen.set(code, r.region);
      }
    });
  });

const KNOWN_COUNTRIES = new Set<string>(getCountries());
const countryFileSchema = z.record(
  z.string().refine((c) => KNOWN_COUNTRIES.has(c), 'must be a two-letter country code libphonenumber knows'),
  zone,
);

export interface AreaCodeInfo {
  areaCode: string;
  /** US state / territory or Canadian province / territory, two letters. */
  region: string;
  country: 'US' | 'CA';
  timezone: string;
}

/**
 * Area code → where it is: every geographic area code (including overlays in service or announced
 * through 2025) of the US states, DC, US territories and the Canadian provinces and territories, with
 * the zone most of the code's subscribers live in. Area codes that straddle a zone line take the zone
 * of their larger population. Every code appears exactly once (the schema checks it).
 */
export const NANP_AREA_CODES: ReadonlyMap<string, AreaCodeInfo> = new Map(
  loadDataFile(__dirname, 'timezones-by-area-code.json', areaCodeFileSchema).flatMap((r) =>
    r.codes.map((code): [string, AreaCodeInfo] => [
      code,
      { areaCode: code, region: r.region, country: r.country, timezone: r.split?.[code] ?? r.zone },
    ]),
  ),
);

/**
 * The zone most of a country's people live in, for numbers whose area gives nothing better (mobile
 * numbers outside North America are rarely geographic). Multi-zone countries take their capital's or
 * largest city's zone.
 */
export const COUNTRY_ZONES: Readonly<Record<string, string>> = loadDataFile(
  __dirname,
  'timezones-by-country.json',
  countryFileSchema,
);

// ── Numbers ──────────────────────────────────────────────────────────────────────────────────────

const NANP = /^\+1([2-9]\d{2})[2-9]\d{6}$/;

/** Where a North American number's area code is, or undefined for other numbers and unknown codes. */
export function areaCodeOf(e164: string): AreaCodeInfo | undefined {
  const m = NANP.exec(e164.trim());
  return m ? NANP_AREA_CODES.get(m[1]) : undefined;
}

/** The US state / territory or Canadian province of a number, from its area code. */
export function stateOf(e164: string): string | undefined {
  return areaCodeOf(e164)?.region;
}

/**
 * The recipient's IANA zone: a valid contact zone wins (people move and keep their numbers), then the
 * North American area code, then the country's main zone, then UTC.
 */
export function timezoneOf(e164: string, contactTimezone?: string | null): string {
  if (isValidTimezone(contactTimezone)) return contactTimezone.trim();
  const area = areaCodeOf(e164);
  if (area) return area.timezone;
  const country = countryOf(e164.trim());
  return (country && COUNTRY_ZONES[country]) || 'UTC';
}

// Parsing with libphonenumber costs ~75 µs. Most calling codes belong to one country in our table
// (+44 is GB here even though Jersey shares it: same clock), so only +1 and +7 need a real parse.
let countriesByCallingCode: Map<string, string[]> | undefined;

function countryOf(e164: string): string | undefined {
  if (!countriesByCallingCode) {
    countriesByCallingCode = new Map();
    for (const country of getCountries()) {
      if (!COUNTRY_ZONES[country]) continue;
      const code = getCountryCallingCode(country);
      countriesByCallingCode.set(code, [...(countriesByCallingCode.get(code) ?? []), country]);
    }
  }
  const digits = /^\+(\d{6,15})$/.exec(e164)?.[1];
  if (!digits) return undefined;
  for (let len = 1; len <= 3; len++) {
    const candidates = countriesByCallingCode.get(digits.slice(0, len));
    if (candidates?.length === 1) return candidates[0];
    if (candidates) return parsePhoneNumberFromString(e164)?.country;
  }
  return undefined;
}

// ── Windows ──────────────────────────────────────────────────────────────────────────────────────

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutesOf(hhmm: string, what: string): number {
  const m = HHMM.exec(hhmm ?? '');
  if (!m) throw new QuietHoursError(`${what} '${hhmm}' is not a time of day as HH:MM (00:00–23:59)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Checks a window's shape; windows never cross midnight (nobody may be texted at night). */
export function parseWindow(window: QuietHoursWindow): { start: number; end: number } {
  const start = minutesOf(window?.start, 'start');
  const end = minutesOf(window?.end, 'end');
  if (start >= end) throw new QuietHoursError(`start ${window.start} must be before end ${window.end}`);
  return { start, end };
}

/**
 * The local window a marketing message may reach this number in. A campaign override may only make it
 * stricter: one that opens earlier or closes later than 08:00–21:00 is refused, and an override that is
 * otherwise valid is narrowed further to the number's state window (an 08:00–21:00 campaign still stops
 * at 20:00 for a Florida number; authors cannot be expected to know every state's law).
 */
export function windowFor(e164: string, override?: QuietHoursWindow | null): QuietHoursWindow {
  const state = stateOf(e164);
  const legal = (state && STATE_WINDOWS[state]) || DEFAULT_WINDOW;
  if (!override) return { ...legal };
  const o = parseWindow(override);
  const d = parseWindow(DEFAULT_WINDOW);
  if (o.start < d.start)
    throw new QuietHoursError(
      `start ${override.start} is earlier than ${DEFAULT_WINDOW.start}; a campaign may only narrow quiet hours`,
    );
  if (o.end > d.end)
    throw new QuietHoursError(
      `end ${override.end} is later than ${DEFAULT_WINDOW.end}; a campaign may only narrow quiet hours`,
    );
  const l = parseWindow(legal);
  const start = Math.max(o.start, l.start);
  const end = Math.min(o.end, l.end);
  if (start >= end)
    throw new QuietHoursError(
      `${override.start}–${override.end} leaves no time inside the ${legal.start}–${legal.end} allowed for ${state} numbers`,
    );
  return { start: hhmm(start), end: hhmm(end) };
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The zone's offset from UTC at an instant, in ms (−4 h for New York in summer), straight from ICU. */
function intlOffsetAt(ms: number, timezone: string): number {
  const p: Record<string, number> = {};
  for (const part of formatterFor(timezone).formatToParts(new Date(ms)))
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

// ICU formatting costs tens of microseconds and the dispatcher asks per message. Offsets change only at
// transitions, and every transition in current rules falls on a quarter hour of UTC (offsets are whole
// quarter hours and clocks change on the hour or half hour), so one lookup serves a whole quarter hour.
const QUARTER_HOUR = 15 * 60_000;
const offsetCache = new Map<string, Map<number, number>>();

function offsetAt(ms: number, timezone: string): number {
  const bucket = Math.floor(ms / QUARTER_HOUR);
  let zone = offsetCache.get(timezone);
  if (!zone) offsetCache.set(timezone, (zone = new Map()));
  let offset = zone.get(bucket);
  if (offset === undefined) {
    offset = intlOffsetAt(bucket * QUARTER_HOUR, timezone);
    if (zone.size >= 4096) zone.clear();
    zone.set(bucket, offset);
  }
  return offset;
}

function wallClockAt(ms: number, timezone: string): WallClock {
  const local = new Date(ms + offsetAt(ms, timezone));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}

/**
 * The instants whose local wall-clock time in the zone is `wall` (given as if it were UTC), earliest
 * first: two in autumn's repeated hour, one usually, and when that time does not exist (the clock jumps
 * over it in spring) the instant the clock jumps.
 */
function instantsOfWallTime(wall: number, timezone: string): number[] {
  const DAY = 86_400_000;
  const offsets = new Set([
    offsetAt(wall - DAY, timezone),
    offsetAt(wall, timezone),
    offsetAt(wall + DAY, timezone),
  ]);
  const candidates = [...offsets].map((o) => wall - o).sort((a, b) => a - b);
  const valid = candidates.filter((t) => offsetAt(t, timezone) === wall - t);
  if (valid.length) return valid;
  // In a gap: find the transition between the candidates, to the minute (zones move by whole minutes).
  let lo = candidates[0];
  let hi = candidates[candidates.length - 1];
  const before = offsetAt(lo, timezone);
  while (hi - lo > 60_000) {
    const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
    if (offsetAt(mid, timezone) === before) lo = mid;
    else hi = mid;
  }
  return [hi];
}

/** Whether `now` falls inside the window in the zone's local time (start inclusive, end exclusive). */
export function isAllowedAt(now: Date, timezone: string, window: QuietHoursWindow): boolean {
  const { start, end } = parseWindow(window);
  const w = wallClockAt(now.getTime(), timezone);
  const minute = w.hour * 60 + w.minute;
  return minute >= start && minute < end;
}

/**
 * `now` if a message may leave now, else the instant the recipient's window next opens. Computed from
 * the local calendar date and the zone's offset on that date, so it is right across DST changes (the
 * opening after a spring-forward night comes an hour sooner in UTC) and in half-hour zones.
 */
export function nextAllowedAt(now: Date, timezone: string, window: QuietHoursWindow): Date {
  const { start } = parseWindow(window);
  if (isAllowedAt(now, timezone, window)) return new Date(now.getTime());
  const w = wallClockAt(now.getTime(), timezone);
  const minute = w.hour * 60 + w.minute;
  // Before the opening: today's. After the closing: tomorrow's (Date.UTC rolls months and years).
  const dayOffset = minute < start ? 0 : 1;
  for (let extra = 0; extra < 3; extra++) {
    const wall = Date.UTC(w.year, w.month - 1, w.day + dayOffset + extra, Math.floor(start / 60), start % 60);
    // A zone can skip a whole calendar day (Samoa, 2011): keep going until an opening is in the future.
    const at = instantsOfWallTime(wall, timezone).find((t) => t > now.getTime());
    if (at !== undefined) return new Date(at);
  }
  throw new Error(`no opening for ${window.start}–${window.end} in ${timezone} after ${now.toISOString()}`);
}
