// Owns when a marketing message may reach a recipient: the recipient's time zone (the contact's own,
// else derived from the number), the legal local window for that number (08:00–21:00, stricter in the
// states whose law is stricter), and the instant a held message may next leave. Pure: the dispatcher
// and the scheduler call it per message, the plan calls it per recipient, tests drive it with a fake
// clock. All date math goes through Intl (full ICU in Node 20), so DST and half-hour zones are real.

import { getCountries, getCountryCallingCode, parsePhoneNumberFromString } from 'libphonenumber-js';

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

// ── North American area codes ────────────────────────────────────────────────────────────────────
// Every geographic area code (including overlays in service or announced through 2025) of the US
// states, DC, US territories and the Canadian provinces and territories, with the zone most of the
// code's subscribers live in. Area codes that straddle a zone line take the zone of their larger
// population; the comment on each split says which side lost.
const REGIONS: {
  region: string;
  country: 'US' | 'CA';
  zone: string;
  codes: string;
  split?: Record<string, string>;
}[] = [
  { region: 'AL', country: 'US', zone: 'America/Chicago', codes: '205 251 256 334 483 659 938' },
  { region: 'AK', country: 'US', zone: 'America/Anchorage', codes: '907' },
  { region: 'AZ', country: 'US', zone: 'America/Phoenix', codes: '480 520 602 623 928' },
  { region: 'AR', country: 'US', zone: 'America/Chicago', codes: '327 479 501 870' },
  {
    region: 'CA',
    country: 'US',
    zone: 'America/Los_Angeles',
    codes:
      '209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 ' +
      '747 760 805 818 820 831 840 858 909 916 925 949 951',
  },
  { region: 'CO', country: 'US', zone: 'America/Denver', codes: '303 719 720 970 983' },
  { region: 'CT', country: 'US', zone: 'America/New_York', codes: '203 475 860 959' },
  { region: 'DE', country: 'US', zone: 'America/New_York', codes: '302' },
  { region: 'DC', country: 'US', zone: 'America/New_York', codes: '202 771' },
  {
    region: 'FL',
    country: 'US',
    zone: 'America/New_York',
    codes: '239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954',
    // The western panhandle (Pensacola, Fort Walton Beach, Panama City) outnumbers Tallahassee.
    split: { '850': 'America/Chicago', '448': 'America/Chicago' },
  },
  {
    region: 'GA',
    country: 'US',
    zone: 'America/New_York',
    codes: '229 404 470 478 678 706 762 770 912 943',
  },
  { region: 'HI', country: 'US', zone: 'Pacific/Honolulu', codes: '808' },
  // Southern Idaho (Boise) is Mountain; the panhandle (208 too) is Pacific.
  { region: 'ID', country: 'US', zone: 'America/Boise', codes: '208 986' },
  {
    region: 'IL',
    country: 'US',
    zone: 'America/Chicago',
    codes: '217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 861 872',
  },
  {
    region: 'IN',
    country: 'US',
    zone: 'America/Indiana/Indianapolis',
    codes: '219 260 317 463 574 765 812 930',
    // Northwest Indiana is Chicago's suburbs; 812/930 is mostly Eastern despite Evansville.
    split: { '219': 'America/Chicago' },
  },
  { region: 'IA', country: 'US', zone: 'America/Chicago', codes: '319 515 563 641 712' },
  // A sliver of western Kansas is Mountain.
  { region: 'KS', country: 'US', zone: 'America/Chicago', codes: '316 620 785 913' },
  {
    region: 'KY',
    country: 'US',
    zone: 'America/New_York',
    codes: '270 364 502 606 859',
    split: { '270': 'America/Chicago', '364': 'America/Chicago' },
  },
  { region: 'LA', country: 'US', zone: 'America/Chicago', codes: '225 318 337 504 985' },
  { region: 'ME', country: 'US', zone: 'America/New_York', codes: '207' },
  { region: 'MD', country: 'US', zone: 'America/New_York', codes: '227 240 301 410 443 667' },
  { region: 'MA', country: 'US', zone: 'America/New_York', codes: '339 351 413 508 617 774 781 857 978' },
  // Four Upper Peninsula counties on the Wisconsin line (906) are Central.
  {
    region: 'MI',
    country: 'US',
    zone: 'America/Detroit',
    codes: '231 248 269 313 517 586 616 679 734 810 906 947 989',
  },
  { region: 'MN', country: 'US', zone: 'America/Chicago', codes: '218 320 507 612 651 763 952' },
  { region: 'MS', country: 'US', zone: 'America/Chicago', codes: '228 601 662 769' },
  { region: 'MO', country: 'US', zone: 'America/Chicago', codes: '314 417 557 573 636 660 816 975' },
  { region: 'MT', country: 'US', zone: 'America/Denver', codes: '406' },
  // The Nebraska panhandle (308) is Mountain; Kearney, Grand Island and North Platte are Central.
  { region: 'NE', country: 'US', zone: 'America/Chicago', codes: '308 402 531' },
  { region: 'NV', country: 'US', zone: 'America/Los_Angeles', codes: '702 725 775' },
  { region: 'NH', country: 'US', zone: 'America/New_York', codes: '603' },
  {
    region: 'NJ',
    country: 'US',
    zone: 'America/New_York',
    codes: '201 551 609 640 732 848 856 862 908 973',
  },
  { region: 'NM', country: 'US', zone: 'America/Denver', codes: '505 575' },
  {
    region: 'NY',
    country: 'US',
    zone: 'America/New_York',
    codes: '212 315 329 332 347 363 516 518 585 607 624 631 646 680 716 718 838 845 914 917 929 934',
  },
  {
    region: 'NC',
    country: 'US',
    zone: 'America/New_York',
    codes: '252 336 472 704 743 828 910 919 980 984',
  },
  // Southwestern North Dakota is Mountain.
  { region: 'ND', country: 'US', zone: 'America/Chicago', codes: '701' },
  {
    region: 'OH',
    country: 'US',
    zone: 'America/New_York',
    codes: '216 220 234 283 326 330 380 419 436 440 513 567 614 740 937',
  },
  { region: 'OK', country: 'US', zone: 'America/Chicago', codes: '405 539 572 580 918' },
  // Malheur County (541) is Mountain.
  { region: 'OR', country: 'US', zone: 'America/Los_Angeles', codes: '458 503 541 971' },
  {
    region: 'PA',
    country: 'US',
    zone: 'America/New_York',
    codes: '215 223 267 272 412 445 484 570 582 610 717 724 814 835 878',
  },
  { region: 'RI', country: 'US', zone: 'America/New_York', codes: '401' },
  { region: 'SC', country: 'US', zone: 'America/New_York', codes: '803 821 839 843 854 864' },
  // West River South Dakota (Rapid City) is Mountain; Sioux Falls side is larger.
  { region: 'SD', country: 'US', zone: 'America/Chicago', codes: '605' },
  {
    region: 'TN',
    country: 'US',
    zone: 'America/Chicago',
    codes: '423 615 629 731 865 901 931',
    split: { '423': 'America/New_York', '865': 'America/New_York' },
  },
  {
    region: 'TX',
    country: 'US',
    zone: 'America/Chicago',
    codes:
      '210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 915 936 940 945 ' +
      '956 972 979',
    split: { '915': 'America/Denver' },
  },
  { region: 'UT', country: 'US', zone: 'America/Denver', codes: '385 435 801' },
  { region: 'VT', country: 'US', zone: 'America/New_York', codes: '802' },
  {
    region: 'VA',
    country: 'US',
    zone: 'America/New_York',
    codes: '276 434 540 571 686 703 757 804 826 948',
  },
  { region: 'WA', country: 'US', zone: 'America/Los_Angeles', codes: '206 253 360 425 509 564' },
  { region: 'WV', country: 'US', zone: 'America/New_York', codes: '304 681' },
  { region: 'WI', country: 'US', zone: 'America/Chicago', codes: '262 274 353 414 534 608 715 920' },
  { region: 'WY', country: 'US', zone: 'America/Denver', codes: '307' },
  // US territories in the NANP.
  { region: 'PR', country: 'US', zone: 'America/Puerto_Rico', codes: '787 939' },
  { region: 'VI', country: 'US', zone: 'America/St_Thomas', codes: '340' },
  { region: 'GU', country: 'US', zone: 'Pacific/Guam', codes: '671' },
  { region: 'MP', country: 'US', zone: 'Pacific/Saipan', codes: '670' },
  { region: 'AS', country: 'US', zone: 'Pacific/Pago_Pago', codes: '684' },
  // Canada. Quebec keeps Eastern time; tzdb files Montreal under America/Toronto.
  { region: 'AB', country: 'CA', zone: 'America/Edmonton', codes: '368 403 587 780 825' },
  // Northeastern BC and the East Kootenays keep Mountain time; Vancouver and Victoria dominate.
  { region: 'BC', country: 'CA', zone: 'America/Vancouver', codes: '236 250 257 604 672 778' },
  { region: 'MB', country: 'CA', zone: 'America/Winnipeg', codes: '204 431 584' },
  { region: 'NB', country: 'CA', zone: 'America/Moncton', codes: '428 506' },
  // Labrador's coast is Atlantic time, the island (nearly everyone) Newfoundland time, UTC−3:30.
  { region: 'NL', country: 'CA', zone: 'America/St_Johns', codes: '709 879' },
  // 902/782 serve both Nova Scotia and Prince Edward Island, on the same clock.
  { region: 'NS', country: 'CA', zone: 'America/Halifax', codes: '782 902' },
  {
    region: 'ON',
    country: 'CA',
    zone: 'America/Toronto',
    // Kenora and the far northwest (807) are Central; Thunder Bay is larger.
    codes: '226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 807 905 942',
  },
  {
    region: 'QC',
    country: 'CA',
    zone: 'America/Toronto',
    codes: '263 354 367 418 438 450 468 514 579 581 819 873',
  },
  // Saskatchewan keeps Central Standard Time all year.
  { region: 'SK', country: 'CA', zone: 'America/Regina', codes: '306 474 639' },
  // 867 covers Yukon, the Northwest Territories and Nunavut; NWT (Mountain) is the middle ground.
  { region: 'NT', country: 'CA', zone: 'America/Edmonton', codes: '867' },
];

export interface AreaCodeInfo {
  areaCode: string;
  /** US state / territory or Canadian province / territory, two letters. */
  region: string;
  country: 'US' | 'CA';
  timezone: string;
}

/** Area code → where it is. Built once; every code appears exactly once (the spec checks it). */
export const NANP_AREA_CODES: ReadonlyMap<string, AreaCodeInfo> = (() => {
  const map = new Map<string, AreaCodeInfo>();
  for (const r of REGIONS)
    for (const areaCode of r.codes.split(/\s+/)) {
      if (map.has(areaCode)) throw new Error(`area code ${areaCode} listed twice`);
      map.set(areaCode, {
        areaCode,
        region: r.region,
        country: r.country,
        timezone: r.split?.[areaCode] ?? r.zone,
      });
    }
  return map;
})();

// ── Countries ────────────────────────────────────────────────────────────────────────────────────
/**
 * The zone most of a country's people live in, for numbers whose area gives nothing better (mobile
 * numbers outside North America are rarely geographic). Multi-zone countries take their capital's or
 * largest city's zone.
 */
export const COUNTRY_ZONES: Readonly<Record<string, string>> = {
  // Americas
  US: 'America/New_York', CA: 'America/Toronto', MX: 'America/Mexico_City', BR: 'America/Sao_Paulo',
  AR: 'America/Argentina/Buenos_Aires', CL: 'America/Santiago', CO: 'America/Bogota', PE: 'America/Lima',
  VE: 'America/Caracas', EC: 'America/Guayaquil', BO: 'America/La_Paz', PY: 'America/Asuncion',
  UY: 'America/Montevideo', CR: 'America/Costa_Rica', PA: 'America/Panama', GT: 'America/Guatemala',
  SV: 'America/El_Salvador', HN: 'America/Tegucigalpa', NI: 'America/Managua', DO: 'America/Santo_Domingo',
  PR: 'America/Puerto_Rico', JM: 'America/Jamaica', TT: 'America/Port_of_Spain', BS: 'America/Nassau',
  BB: 'America/Barbados', CU: 'America/Havana', HT: 'America/Port-au-Prince', BM: 'Atlantic/Bermuda',
  KY: 'America/Cayman', AG: 'America/Antigua', LC: 'America/St_Lucia', GD: 'America/Grenada',
  VC: 'America/St_Vincent', KN: 'America/St_Kitts', DM: 'America/Dominica', TC: 'America/Grand_Turk',
  VG: 'America/Tortola', AI: 'America/Anguilla', MS: 'America/Montserrat', SX: 'America/Lower_Princes',
  VI: 'America/St_Thomas', GU: 'Pacific/Guam', MP: 'Pacific/Saipan', AS: 'Pacific/Pago_Pago',
  // Europe
  GB: 'Europe/London', IE: 'Europe/Dublin', FR: 'Europe/Paris', DE: 'Europe/Berlin', ES: 'Europe/Madrid',
  PT: 'Europe/Lisbon', IT: 'Europe/Rome', NL: 'Europe/Amsterdam', BE: 'Europe/Brussels',
  LU: 'Europe/Luxembourg', CH: 'Europe/Zurich', AT: 'Europe/Vienna', DK: 'Europe/Copenhagen',
  SE: 'Europe/Stockholm', NO: 'Europe/Oslo', FI: 'Europe/Helsinki', IS: 'Atlantic/Reykjavik',
  PL: 'Europe/Warsaw', CZ: 'Europe/Prague', SK: 'Europe/Bratislava', HU: 'Europe/Budapest',
  RO: 'Europe/Bucharest', BG: 'Europe/Sofia', GR: 'Europe/Athens', HR: 'Europe/Zagreb',
  SI: 'Europe/Ljubljana', RS: 'Europe/Belgrade', UA: 'Europe/Kiev', RU: 'Europe/Moscow',
  TR: 'Europe/Istanbul', EE: 'Europe/Tallinn', LV: 'Europe/Riga', LT: 'Europe/Vilnius', CY: 'Asia/Nicosia',
  MT: 'Europe/Malta', MC: 'Europe/Monaco', BA: 'Europe/Sarajevo', MK: 'Europe/Skopje', AL: 'Europe/Tirane',
  MD: 'Europe/Chisinau', BY: 'Europe/Minsk',
  // Middle East and Africa
  IL: 'Asia/Jerusalem', AE: 'Asia/Dubai', SA: 'Asia/Riyadh', QA: 'Asia/Qatar', KW: 'Asia/Kuwait',
  BH: 'Asia/Bahrain', OM: 'Asia/Muscat', JO: 'Asia/Amman', LB: 'Asia/Beirut', IQ: 'Asia/Baghdad',
  IR: 'Asia/Tehran', EG: 'Africa/Cairo', MA: 'Africa/Casablanca', DZ: 'Africa/Algiers', TN: 'Africa/Tunis',
  NG: 'Africa/Lagos', GH: 'Africa/Accra', KE: 'Africa/Nairobi', ZA: 'Africa/Johannesburg',
  ET: 'Africa/Addis_Ababa', TZ: 'Africa/Dar_es_Salaam', UG: 'Africa/Kampala', SN: 'Africa/Dakar',
  CI: 'Africa/Abidjan', CM: 'Africa/Douala', RW: 'Africa/Kigali', ZM: 'Africa/Lusaka', ZW: 'Africa/Harare',
  // Asia and Oceania
  IN: 'Asia/Kolkata', PK: 'Asia/Karachi', BD: 'Asia/Dhaka', LK: 'Asia/Colombo', NP: 'Asia/Kathmandu',
  CN: 'Asia/Shanghai', HK: 'Asia/Hong_Kong', MO: 'Asia/Macau', TW: 'Asia/Taipei', JP: 'Asia/Tokyo',
  KR: 'Asia/Seoul', SG: 'Asia/Singapore', MY: 'Asia/Kuala_Lumpur', TH: 'Asia/Bangkok',
  VN: 'Asia/Ho_Chi_Minh', PH: 'Asia/Manila', ID: 'Asia/Jakarta', KH: 'Asia/Phnom_Penh', MM: 'Asia/Yangon',
  KZ: 'Asia/Almaty', UZ: 'Asia/Tashkent', GE: 'Asia/Tbilisi', AM: 'Asia/Yerevan', AZ: 'Asia/Baku',
  MN: 'Asia/Ulaanbaatar', AU: 'Australia/Sydney', NZ: 'Pacific/Auckland', FJ: 'Pacific/Fiji',
  PG: 'Pacific/Port_Moresby',
}; // prettier-ignore

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
