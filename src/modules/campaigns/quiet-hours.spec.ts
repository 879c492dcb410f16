import { describe, expect, it } from 'vitest';
import {
  COUNTRY_ZONES,
  isAllowedAt,
  isValidTimezone,
  NANP_AREA_CODES,
  nextAllowedAt,
  QuietHoursError,
  stateOf,
  timezoneOf,
  windowFor,
} from './quiet-hours';

const US_STATES =
  'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY'.split(
    ' ',
  );
const CA_PROVINCES = 'AB BC MB NB NL NS ON QC SK'.split(' ');
const DAY = { start: '08:00', end: '21:00' };
const at = (iso: string) => new Date(iso);

describe('area code and country tables', () => {
  it('cover every US state, DC and Canadian province with real zones', () => {
    const regions = new Set([...NANP_AREA_CODES.values()].map((a) => a.region));
    for (const r of [...US_STATES, ...CA_PROVINCES]) expect(regions, r).toContain(r);
    for (const a of NANP_AREA_CODES.values()) {
      expect(a.areaCode).toMatch(/^[2-9](?!11)\d\d$/);
      expect(isValidTimezone(a.timezone), a.timezone).toBe(true);
    }
    expect(NANP_AREA_CODES.size).toBeGreaterThan(400);
  });

  it('maps at least 60 countries to zones Intl knows', () => {
    expect(Object.keys(COUNTRY_ZONES).length).toBeGreaterThanOrEqual(60);
    for (const [country, zone] of Object.entries(COUNTRY_ZONES))
      expect(isValidTimezone(zone), country).toBe(true);
  });
});

describe('timezoneOf', () => {
  it.each([
    ['+12125550123', 'America/New_York'],
    ['+14155550123', 'America/Los_Angeles'],
    ['+13055550123', 'America/New_York'], // Miami
    ['+18505550123', 'America/Chicago'], // Pensacola side of the panhandle
    ['+19155550123', 'America/Denver'], // El Paso
    ['+12195550123', 'America/Chicago'], // Gary, Indiana
    ['+18655550123', 'America/New_York'], // Knoxville, Tennessee
    ['+16155550123', 'America/Chicago'], // Nashville
    ['+12705550123', 'America/Chicago'], // western Kentucky
    ['+16025550123', 'America/Phoenix'],
    ['+18085550123', 'Pacific/Honolulu'],
    ['+19075550123', 'America/Anchorage'],
    ['+14165550123', 'America/Toronto'],
    ['+15145550123', 'America/Toronto'], // Montreal
    ['+13065550123', 'America/Regina'],
    ['+17095550123', 'America/St_Johns'],
    ['+17875550123', 'America/Puerto_Rico'],
    ['+18765550123', 'America/Jamaica'], // NANP but not US/CA: by country
    ['+442071234567', 'Europe/London'],
    ['+33612345678', 'Europe/Paris'],
    ['+919812345678', 'Asia/Kolkata'],
    ['+61412345678', 'Australia/Sydney'],
    ['+64211234567', 'Pacific/Auckland'],
    ['+15555550123', 'UTC'], // not a real area code, no country
  ])('%s → %s', (e164, zone) => {
    expect(timezoneOf(e164)).toBe(zone);
  });

  it('prefers a valid contact zone and ignores one that is not a region zone', () => {
    expect(timezoneOf('+12125550123', 'Europe/Paris')).toBe('Europe/Paris');
    expect(timezoneOf('+12125550123', ' Asia/Kolkata ')).toBe('Asia/Kolkata');
    expect(timezoneOf('+12125550123', 'EST')).toBe('America/New_York'); // fixed offset, no DST
    expect(timezoneOf('+12125550123', 'Mars/Olympus_Mons')).toBe('America/New_York');
    expect(timezoneOf('+12125550123', '')).toBe('America/New_York');
    expect(timezoneOf('+12125550123', null)).toBe('America/New_York');
  });
});

describe('stateOf', () => {
  it('names the state or province from the area code', () => {
    expect(stateOf('+13055550123')).toBe('FL');
    expect(stateOf('+12025550123')).toBe('DC');
    expect(stateOf('+14165550123')).toBe('ON');
    expect(stateOf('+18765550123')).toBeUndefined();
    expect(stateOf('+442071234567')).toBeUndefined();
  });
});

describe('windowFor', () => {
  it('is 08:00–21:00 by default and 08:00–20:00 where state law is stricter', () => {
    expect(windowFor('+12125550123')).toEqual(DAY);
    expect(windowFor('+442071234567')).toEqual(DAY);
    for (const n of ['+13055550123', '+14055550123', '+12065550123', '+12035550123', '+14105550123'])
      expect(windowFor(n), n).toEqual({ start: '08:00', end: '20:00' });
  });

  it('accepts a stricter campaign override and narrows it further to the state window', () => {
    expect(windowFor('+12125550123', { start: '10:00', end: '18:30' })).toEqual({
      start: '10:00',
      end: '18:30',
    });
    expect(windowFor('+13055550123', { start: '09:00', end: '21:00' })).toEqual({
      start: '09:00',
      end: '20:00',
    });
  });

  it.each([
    [{ start: '07:00', end: '20:00' }, /quiet_hours: start 07:00 is earlier than 08:00/],
    [{ start: '08:00', end: '22:00' }, /quiet_hours: end 22:00 is later than 21:00/],
    [{ start: '18:00', end: '09:00' }, /quiet_hours: start 18:00 must be before end 09:00/],
    [{ start: '8am', end: '20:00' }, /quiet_hours: start '8am' is not a time of day/],
  ])('refuses %j naming quiet_hours', (override, message) => {
    expect(() => windowFor('+12125550123', override)).toThrow(QuietHoursError);
    expect(() => windowFor('+12125550123', override)).toThrow(message);
  });

  it('refuses an override that leaves no time for a state', () => {
    expect(() => windowFor('+13055550123', { start: '20:30', end: '21:00' })).toThrow(
      /leaves no time inside the 08:00–20:00 allowed for FL numbers/,
    );
  });

  it('names the field for the API error', () => {
    try {
      windowFor('+12125550123', { start: '06:00', end: '21:00' });
    } catch (e) {
      expect((e as QuietHoursError).field).toBe('quiet_hours');
    }
  });
});

describe('isAllowedAt', () => {
  it('opens at the start minute and closes at the end minute, in local time', () => {
    const ny = 'America/New_York';
    expect(isAllowedAt(at('2026-07-01T11:59:00Z'), ny, DAY)).toBe(false); // 07:59 EDT
    expect(isAllowedAt(at('2026-07-01T12:00:00Z'), ny, DAY)).toBe(true); // 08:00 EDT
    expect(isAllowedAt(at('2026-07-02T00:59:59Z'), ny, DAY)).toBe(true); // 20:59:59 EDT
    expect(isAllowedAt(at('2026-07-02T01:00:00Z'), ny, DAY)).toBe(false); // 21:00 EDT
    expect(isAllowedAt(at('2026-01-10T02:30:00Z'), 'Asia/Kolkata', DAY)).toBe(true); // 08:00 IST
    expect(isAllowedAt(at('2026-01-10T02:29:00Z'), 'Asia/Kolkata', DAY)).toBe(false);
  });
});

describe('nextAllowedAt (fake clock)', () => {
  it('returns now when the window is open', () => {
    const now = at('2026-07-01T15:00:00Z');
    expect(nextAllowedAt(now, 'America/New_York', DAY)).toEqual(now);
  });

  it('crosses New York spring-forward: 08:00 EDT is 12:00Z, not 13:00Z', () => {
    // Saturday 7 March 2026, 22:00 EST; clocks go forward at 02:00 on Sunday 8 March.
    expect(nextAllowedAt(at('2026-03-08T03:00:00Z'), 'America/New_York', DAY).toISOString()).toBe(
      '2026-03-08T12:00:00.000Z',
    );
  });

  it('crosses New York fall-back: 08:00 EST is 13:00Z, not 12:00Z', () => {
    // Saturday 31 October 2026, 22:00 EDT; clocks go back at 02:00 on Sunday 1 November.
    expect(nextAllowedAt(at('2026-11-01T02:00:00Z'), 'America/New_York', DAY).toISOString()).toBe(
      '2026-11-01T13:00:00.000Z',
    );
  });

  it('crosses Auckland DST end (April) and start (September)', () => {
    // Saturday 4 April 2026 22:00 NZDT (+13); Sunday 08:00 is NZST (+12).
    expect(nextAllowedAt(at('2026-04-04T09:00:00Z'), 'Pacific/Auckland', DAY).toISOString()).toBe(
      '2026-04-04T20:00:00.000Z',
    );
    // Saturday 26 September 2026 22:00 NZST (+12); Sunday 08:00 is NZDT (+13).
    expect(nextAllowedAt(at('2026-09-26T10:00:00Z'), 'Pacific/Auckland', DAY).toISOString()).toBe(
      '2026-09-26T19:00:00.000Z',
    );
  });

  it('handles half-hour offsets (Kolkata +05:30, St John’s −03:30)', () => {
    expect(nextAllowedAt(at('2026-01-10T16:00:00Z'), 'Asia/Kolkata', DAY).toISOString()).toBe(
      '2026-01-11T02:30:00.000Z', // from 21:30 IST
    );
    expect(nextAllowedAt(at('2026-01-10T01:00:00Z'), 'Asia/Kolkata', DAY).toISOString()).toBe(
      '2026-01-10T02:30:00.000Z', // from 06:30 IST, same day
    );
    expect(nextAllowedAt(at('2026-01-10T02:00:00Z'), 'America/St_Johns', DAY).toISOString()).toBe(
      '2026-01-10T11:30:00.000Z', // from 22:30 NST
    );
  });

  it('rolls over month and year ends, and applies a state window', () => {
    expect(nextAllowedAt(at('2027-01-01T03:00:00Z'), 'America/New_York', DAY).toISOString()).toBe(
      '2027-01-01T13:00:00.000Z', // 22:00 on New Year's Eve
    );
    const miami = windowFor('+13055550123');
    expect(nextAllowedAt(at('2026-07-02T00:30:00Z'), timezoneOf('+13055550123'), miami).toISOString()).toBe(
      '2026-07-02T12:00:00.000Z', // 20:30 EDT is already closed in Florida
    );
  });

  it('opens when the clock jumps over a start time that does not exist, and at the first of a repeated one', () => {
    const early = { start: '02:30', end: '21:00' };
    expect(nextAllowedAt(at('2026-03-08T06:00:00Z'), 'America/New_York', early).toISOString()).toBe(
      '2026-03-08T07:00:00.000Z', // 01:00 EST → the jump to 03:00 EDT
    );
    const repeated = { start: '01:30', end: '21:00' };
    expect(nextAllowedAt(at('2026-11-01T05:00:00Z'), 'America/New_York', repeated).toISOString()).toBe(
      '2026-11-01T05:30:00.000Z', // first 01:30 (EDT)
    );
  });

  it('always lands on an open minute with the minute before closed, all year, in awkward zones', () => {
    const zones = [
      'America/New_York',
      'Pacific/Auckland',
      'Asia/Kolkata',
      'America/St_Johns',
      'Australia/Lord_Howe',
    ];
    const step = 11 * 3_600_000 + 7 * 60_000; // 667 minutes, coprime with a day: visits drift through every local hour
    for (const zone of zones)
      for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += step) {
        const now = new Date(t);
        const next = nextAllowedAt(now, zone, DAY);
        expect(isAllowedAt(next, zone, DAY)).toBe(true);
        if (next.getTime() !== t) {
          expect(next.getTime()).toBeGreaterThan(t);
          expect(next.getTime() - t).toBeLessThanOrEqual(12 * 3_600_000);
          expect(isAllowedAt(new Date(next.getTime() - 60_000), zone, DAY)).toBe(false);
        }
      }
  });
});
