import { describe, expect, it } from 'vitest';
import examples from 'libphonenumber-js/examples.mobile.json';
import { CountryCode, getCountryCallingCode, parsePhoneNumberWithError } from 'libphonenumber-js/max';
import { countryCode, normalizePhone } from './phone-number';

const ok = (e164: string, country: string | null, lineType?: string) => ({
  ok: true,
  e164,
  country,
  lineType: lineType ?? expect.any(String),
});

describe('normalizePhone: numbers already international', () => {
  it.each([
    ['+1 202-456-1111', '+12024561111', 'US', 'fixed_line_or_mobile'], // White House switchboard
    ['+44 20 7930 4832', '+442079304832', 'GB', 'fixed_line'], // Buckingham Palace
    ['+44 7400 123456', '+447400123456', 'GB', 'mobile'],
    ['+33 6 12 34 56 78', '+33612345678', 'FR', 'mobile'],
    ['+33 1 42 68 53 00', '+33142685300', 'FR', 'fixed_line'],
    ['+49 151 23456789', '+4915123456789', 'DE', 'mobile'],
    ['+49 30 123456', '+4930123456', 'DE', 'fixed_line'],
    ['+34 612 34 56 78', '+34612345678', 'ES', 'mobile'],
    ['+55 11 96123-4567', '+5511961234567', 'BR', 'mobile'],
    ['+81 90-1234-5678', '+819012345678', 'JP', 'mobile'],
    ['+91 98765 43210', '+919876543210', 'IN', 'mobile'],
    ['+61 412 345 678', '+61412345678', 'AU', 'mobile'],
    ['+971 50 123 4567', '+971501234567', 'AE', 'mobile'],
    ['+234 803 123 4567', '+2348031234567', 'NG', 'mobile'],
    ['+86 138 1234 5678', '+8613812345678', 'CN', 'mobile'],
    ['+52 55 1234 5678', '+525512345678', 'MX', 'fixed_line_or_mobile'],
    ['+44 7624 369230', '+447624369230', 'IM', 'mobile'], // Isle of Man shares +44
    ['+1 876 210 1234', '+18762101234', 'JM', 'mobile'], // Jamaica shares +1
  ])('%s → %s (%s, %s)', (input, e164, country, type) => {
    expect(normalizePhone(input)).toEqual(ok(e164, country, type));
  });

  it.each([
    ['+44 (0)20 7930 4832', '+442079304832'],
    ['+44 (0) 7400 123456', '+447400123456'],
    ['+33 (0)6 12 34 56 78', '+33612345678'],
    ['Mobile: +49 151 23456789', '+4915123456789'],
  ])('reads the British "(0)" habit and labels: %s → %s', (input, e164) => {
    expect(normalizePhone(input)).toMatchObject({ ok: true, e164 });
  });

  it('ignores the default country for an international number', () => {
    expect(normalizePhone('+33 6 12 34 56 78', 'US')).toEqual(ok('+33612345678', 'FR', 'mobile'));
  });

  it('gives non-geographic numbers no country', () => {
    expect(normalizePhone('+800 1234 5678')).toEqual(ok('+80012345678', null, 'toll_free'));
  });
});

describe('normalizePhone: national formats with trunk prefixes', () => {
  it.each([
    ['(202) 456-1111', 'US', '+12024561111'],
    ['1-202-456-1111', 'US', '+12024561111'],
    ['202.456.1111', 'US', '+12024561111'],
    ['07400 123456', 'GB', '+447400123456'],
    ['020 7930 4832', 'GB', '+442079304832'],
    ['06 12 34 56 78', 'FR', '+33612345678'],
    ['0151 23456789', 'DE', '+4915123456789'],
    ['612 34 56 78', 'ES', '+34612345678'],
    ['(11) 96123-4567', 'BR', '+5511961234567'],
    ['090-1234-5678', 'JP', '+819012345678'],
    ['09876543210', 'IN', '+919876543210'],
    ['0412 345 678', 'AU', '+61412345678'],
    ['050 123 4567', 'AE', '+971501234567'],
    ['0803 123 4567', 'NG', '+2348031234567'],
    ['06-12345678', 'NL', '+31612345678'],
    ['312 345 6789', 'IT', '+393123456789'],
  ])('%s in %s → %s', (input, country, e164) => {
    expect(normalizePhone(input, country)).toMatchObject({ ok: true, e164 });
  });
});

describe('normalizePhone: international dialling prefixes', () => {
  it.each([
    ['011 44 7400 123456', 'US', '+447400123456'],
    ['011-33-6-12-34-56-78', 'CA', '+33612345678'],
    ['0049 151 23456789', 'FR', '+4915123456789'],
    ['00 33 6 12 34 56 78', 'GB', '+33612345678'],
    ['00 1 202 456 1111', 'DE', '+12024561111'],
    ['010 44 7400 123456', 'JP', '+447400123456'],
    ['0011 44 7400 123456', 'AU', '+447400123456'],
  ])('%s dialled from %s → %s', (input, country, e164) => {
    expect(normalizePhone(input, country)).toMatchObject({ ok: true, e164 });
  });

  it('reads a leading 00 as international when no country is known', () => {
    expect(normalizePhone('0033612345678')).toMatchObject({ ok: true, e164: '+33612345678' });
  });

  it('reads 00 as international where the country dials 011 (no North American number starts with 0)', () => {
    expect(normalizePhone('0044 7400 123456', 'US')).toMatchObject({ ok: true, e164: '+447400123456' });
    expect(normalizePhone('00 33 6 12 34 56 78', 'CA')).toMatchObject({ ok: true, e164: '+33612345678' });
  });
});

describe("normalizePhone: Mexico's retired mobile prefixes", () => {
  // Since 2019 a Mexican number is ten digits after +52; exports still carry the old "1" (after
  // +52) and "044"/"045" (national) mobile prefixes.
  it.each([
    ['+52 1 55 1234 5678', undefined],
    ['+5215512345678', undefined],
    ['00 52 1 55 1234 5678', 'US'],
    ['011 52 1 55 1234 5678', 'US'],
    ['1 55 1234 5678', 'MX'],
    ['044 55 1234 5678', 'MX'],
    ['045 55 1234 5678', 'MX'],
    ['55 1234 5678', 'MX'],
  ])('%s (%s) → +525512345678', (input, country) => {
    expect(normalizePhone(input, country)).toMatchObject({ ok: true, e164: '+525512345678', country: 'MX' });
  });

  it('still refuses what no reading makes valid', () => {
    expect(normalizePhone('+52 1 55 1234 567')).toMatchObject({ ok: false });
    expect(normalizePhone('0044 12', 'US')).toMatchObject({ ok: false });
  });
});

describe('normalizePhone: tel: and sms: URIs', () => {
  it.each([
    ['tel:+1-202-456-1111', undefined, '+12024561111'],
    ['TEL:+44-20-7930-4832', undefined, '+442079304832'],
    ['tel:456-1111;phone-context=+1-202', undefined, '+12024561111'],
    ['tel:7930-4832;phone-context=+44-20', 'US', '+442079304832'],
    ['tel:06-12-34-56-78;phone-context=example.fr', 'FR', '+33612345678'],
    ['tel:%2B33612345678', undefined, '+33612345678'],
    ['sms:+447400123456?body=hello', undefined, '+447400123456'],
    ['smsto:+4915123456789', undefined, '+4915123456789'],
  ])('%s → %s', (input, country, e164) => {
    expect(normalizePhone(input, country)).toMatchObject({ ok: true, e164 });
  });

  it('refuses an extension and more than one recipient', () => {
    expect(normalizePhone('tel:+1-202-456-1111;ext=22')).toMatchObject({
      ok: false,
      reason: 'INVALID_NUMBER',
    });
    expect(normalizePhone('sms:+447400123456,+447400123457')).toMatchObject({
      ok: false,
      reason: 'INVALID_NUMBER',
    });
    expect(normalizePhone('tel:')).toMatchObject({ ok: false, reason: 'MISSING_PHONE' });
  });
});

describe('normalizePhone: digits of other scripts and pasted invisibles', () => {
  it.each([
    ['٠٥٠١٢٣٤٥٦٧', 'SA', '+966501234567'], // Arabic-Indic
    ['۰۹۱۲ ۳۴۵ ۶۷۸۹', 'IR', '+989123456789'], // Extended Arabic-Indic (Persian)
    ['＋４４ ７４００ １２３４５６', undefined, '+447400123456'], // fullwidth
    ['९८७६५ ४३२१०', 'IN', '+919876543210'], // Devanagari
    ['০১৭১১ ১২৩৪৫৬', 'BD', '+8801711123456'], // Bengali
    ['\u200e+971 50 123 4567\u200f', undefined, '+971501234567'], // LRM/RLM from an RTL UI
    ['+33\u00a06\u00a012\u00a034\u00a056\u00a078', undefined, '+33612345678'], // no-break spaces
    ['+1\u2011202\u2013456\u20141111', undefined, '+12024561111'], // unicode hyphen and dashes
    ['𝟎𝟕𝟒𝟎𝟎 𝟏𝟐𝟑𝟒𝟓𝟔', 'GB', '+447400123456'], // mathematical bold digits
  ])('%s → %s', (input, country, e164) => {
    expect(normalizePhone(input, country)).toMatchObject({ ok: true, e164 });
  });
});

describe('normalizePhone: the row country wins over the default', () => {
  it('reads a national number with the row country', () => {
    expect(normalizePhone('06 12 34 56 78', 'US', { country: 'FR' })).toMatchObject({
      ok: true,
      e164: '+33612345678',
      country: 'FR',
    });
  });
  it('falls back to the default when the row country is blank', () => {
    expect(normalizePhone('(202) 456-1111', 'US', { country: '  ' })).toMatchObject({
      ok: true,
      e164: '+12024561111',
    });
    expect(normalizePhone('(202) 456-1111', 'US', { country: null })).toMatchObject({ ok: true });
  });
  it('accepts lowercase and UK', () => {
    expect(normalizePhone('07400 123456', undefined, { country: 'uk' })).toMatchObject({
      ok: true,
      e164: '+447400123456',
    });
    expect(normalizePhone('07400 123456', ' gb ')).toMatchObject({ ok: true });
    expect(countryCode('de')).toBe('DE');
    expect(countryCode('Germany')).toBe('DE');
    expect(countryCode('united kingdom')).toBe('GB');
    expect(countryCode('USA')).toBe('US');
    expect(countryCode('Atlantis')).toBeUndefined();
    expect(normalizePhone('06 12 34 56 78', undefined, { country: 'France' })).toMatchObject({
      ok: true,
      e164: '+33612345678',
    });
  });
  it('refuses a national number in an unknown country, naming it', () => {
    expect(normalizePhone('06 12 34 56 78', undefined, { country: 'XX' })).toEqual({
      ok: false,
      reason: 'INVALID_COUNTRY',
      detail: 'unknown country "XX"',
    });
  });
  it('still takes an international number when the row country is unknown', () => {
    expect(normalizePhone('+33612345678', 'US', { country: 'Atlantis' })).toMatchObject({
      ok: true,
      e164: '+33612345678',
    });
  });
});

describe('normalizePhone: refusals', () => {
  it.each([null, undefined, '', '   ', '\t'])('MISSING_PHONE for %j', (input) => {
    expect(normalizePhone(input, 'US')).toMatchObject({ ok: false, reason: 'MISSING_PHONE' });
  });

  it.each([
    ['+1 202', undefined, 'TOO_SHORT'],
    ['456', 'US', 'TOO_SHORT'],
    ['+44 20 7930', undefined, 'TOO_SHORT'],
    ['+1 202 456 1111 2222 3', undefined, 'TOO_LONG'],
    ['+44 7400 123456 789', undefined, 'TOO_LONG'],
    ['202 456 1111', undefined, 'INVALID_COUNTRY'],
    ['+999 1234 5678', undefined, 'INVALID_COUNTRY'],
    ['call me', 'US', 'INVALID_NUMBER'],
    ['---', 'US', 'INVALID_NUMBER'],
    ['+1 123 456 7890', undefined, 'INVALID_NUMBER'], // no US area code starts with 1
    ['+44 4123 456789', undefined, 'INVALID_NUMBER'], // no UK range starts with 04
    ['+1 202-456-1111 ext. 12', undefined, 'INVALID_NUMBER'],
  ])('%s (%s) → %s', (input, country, reason) => {
    const r = normalizePhone(input, country);
    expect(r).toMatchObject({ ok: false, reason });
    expect(r.ok === false && r.detail.length).toBeGreaterThan(5);
  });

  it('explains the reason in the detail', () => {
    expect(normalizePhone('202 456 1111')).toEqual({
      ok: false,
      reason: 'INVALID_COUNTRY',
      detail: '"202 456 1111" is not international (+…) and no country was given',
    });
    expect(normalizePhone('+44 20 7930')).toMatchObject({ detail: '"+44 20 7930" is too short for +44' });
  });
});

describe('normalizePhone: requireMobile', () => {
  it('refuses a known fixed line', () => {
    expect(normalizePhone('+44 20 7930 4832', undefined, { requireMobile: true })).toEqual({
      ok: false,
      reason: 'NOT_MOBILE',
      detail: '+442079304832 is a fixed line; it cannot receive texts',
    });
    expect(normalizePhone('030 123456', 'DE', { requireMobile: true })).toMatchObject({
      reason: 'NOT_MOBILE',
    });
  });
  it('passes mobiles and numbers whose type is ambiguous', () => {
    expect(normalizePhone('+447400123456', undefined, { requireMobile: true })).toMatchObject({ ok: true });
    expect(normalizePhone('+12024561111', undefined, { requireMobile: true })).toMatchObject({
      ok: true,
      lineType: 'fixed_line_or_mobile',
    });
  });
  it('reports the fixed line type without requireMobile', () => {
    expect(normalizePhone('+44 20 7930 4832')).toMatchObject({ ok: true, lineType: 'fixed_line' });
  });
  it('keeps the options apart in its cache', () => {
    expect(normalizePhone('+33142685300')).toMatchObject({ ok: true });
    expect(normalizePhone('+33142685300', undefined, { requireMobile: true })).toMatchObject({ ok: false });
  });

  it('answers the same without its cache (memo: false), refusals included', () => {
    const inputs: [string, string | undefined, string | undefined][] = [
      ['+1 415 555 2671', undefined, undefined],
      ['(415) 555-2671', 'US', undefined],
      ['07400 123456', 'US', 'GB'],
      ['0033 6 12 34 56 78', undefined, 'FR'],
      ['tel:+44-20-7930-4832', undefined, undefined],
      ['12345', 'US', undefined],
      ['+999 123 456', 'US', undefined],
      ['call me', 'US', undefined],
      ['+44 12', undefined, undefined],
      ['06 12 34 56 78', undefined, 'Atlantis'],
      ['', 'US', undefined],
    ];
    for (const [input, def, country] of inputs) {
      const memo = normalizePhone(input, def, { country });
      expect(normalizePhone(input, def, { country, memo: false }), input).toEqual(memo);
    }
  });
});

describe('normalizePhone: the precompiled fast path agrees with libphonenumber', () => {
  /** What libphonenumber alone says about an input. */
  function reference(input: string, country?: string) {
    try {
      const p = parsePhoneNumberWithError(input, { defaultCountry: country as CountryCode });
      const type = p.getType();
      if (p.ext || !p.isValid() || !type) return { ok: false };
      return { ok: true, e164: p.number, country: p.country ?? null, lineType: type.toLowerCase() };
    } catch {
      return { ok: false };
    }
  }

  /**
   * The readings normalizePhone adds to libphonenumber's, written out independently: Mexico's
   * retired mobile prefixes, and 00 or 011 dialled from North America.
   */
  function otherReadings(input: string, country: string | undefined): string[] {
    const d = input.replace(/\D/g, '');
    const out: string[] = [];
    const intl = input.startsWith('+')
      ? d
      : ['US', 'CA'].includes(country ?? '')
        ? /^(?:011|00)(\d+)$/.exec(d)?.[1]
        : undefined;
    if (intl && !input.startsWith('+') && d.startsWith('00')) out.push(`+${intl}`);
    if (intl && /^521\d{10}$/.test(intl)) out.push(`+52${intl.slice(3)}`);
    const mx = country === 'MX' && !input.startsWith('+') ? /^(?:1|04[45])(\d{10})$/.exec(d) : null;
    if (mx) out.push(`+52${mx[1]}`);
    return out;
  }

  it('on mutated example numbers of many countries, in every shape', () => {
    // Every country libphonenumber has an example mobile number for (about 245).
    const countries = Object.keys(examples);
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % n;
    const idd: Record<string, string> = { US: '011', GB: '00', DE: '00', JP: '010', AU: '0011' };
    let compared = 0;
    let valid = 0;
    for (let round = 0; round < 7; round++) {
      for (const c of countries) {
        const example = (examples as Record<string, string>)[c];
        if (!example) continue;
        const digits = [...example];
        // Replace one or two digits, sometimes drop or add one: mostly valid, sometimes not.
        for (let k = 0; k < 1 + rnd(2); k++) digits[rnd(digits.length)] = String(rnd(10));
        if (rnd(6) === 0) digits.pop();
        if (rnd(6) === 0) digits.push(String(rnd(10)));
        const nn = digits.join('');
        const cc = getCountryCallingCode(c as CountryCode);
        const from = Object.keys(idd)[rnd(5)];
        const shapes: [string, string | undefined][] = [
          [`+${cc}${nn}`, undefined],
          [`+${cc} ${nn.slice(0, 3)} ${nn.slice(3)}`, 'US'],
          [`0${nn}`, c],
          [`1${nn}`, c],
          [nn, c],
          [`(${nn.slice(0, 3)}) ${nn.slice(3, 6)}-${nn.slice(6)}`, c],
          [`${idd[from]} ${cc} ${nn}`, from],
        ];
        for (const [input, country] of shapes) {
          const want = reference(input, country);
          const got = normalizePhone(input, country);
          compared++;
          if (want.ok) valid++;
          if (want.ok) expect(got, `${input} in ${country}`).toEqual(want);
          else if (got.ok) {
            // Only where a documented other reading explains it, and then as that reading.
            const explained = otherReadings(input, country).some((r) => {
              const w = reference(r, undefined);
              return w.ok && w.e164 === got.e164;
            });
            expect(explained, `${input} in ${country} read as ${got.e164}`).toBe(true);
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
    expect(valid).toBeGreaterThan(compared / 4);
  }, 60_000);
});

describe('normalizePhone: speed', () => {
  /** Distinct numbers in the shapes imports carry, so the cache does not help. */
  function inputs(from: number, n: number): [string, string][] {
    return Array.from({ length: n }, (_, k) => {
      const i = from + k;
      const d = String(1_000_000 + (i % 1_000_000)).slice(1);
      switch (i % 4) {
        case 0:
          return [`+1 415 5${d.slice(0, 2)} ${d.slice(2)}`, 'US'];
        case 1:
          return [`07400 ${d}`, 'GB'];
        case 2:
          return [`+33 6 12 ${d}`, 'FR'];
        default:
          return [`0151 23${d}`, 'DE'];
      }
    });
  }
  /** CPU microseconds per call of f over the inputs (CPU time, so other processes on the machine matter less). */
  function cpuMicros(list: [string, string][], f: (input: string, country: string) => unknown): number {
    const t0 = process.cpuUsage();
    for (const [input, country] of list) f(input, country);
    const t = process.cpuUsage(t0);
    return (t.user + t.system) / list.length;
  }

  it('normalizes distinct numbers several times faster than libphonenumber alone', () => {
    cpuMicros(inputs(900_000, 20_000), (i, c) => normalizePhone(i, c)); // warm up the JIT
    const ours = cpuMicros(inputs(0, 20_000), (i, c) => normalizePhone(i, c));
    const library = cpuMicros(inputs(100_000, 5_000), (i, c) => {
      const p = parsePhoneNumberWithError(i, c as CountryCode);
      return p.isValid() && p.getType();
    });
    const cached = cpuMicros(inputs(0, 20_000), (i, c) => normalizePhone(i, c));
    console.log(
      `normalizePhone: ${ours.toFixed(1)} µs/call first sight, ${cached.toFixed(2)} µs/call cached; ` +
        `libphonenumber parse + isValid + getType: ${library.toFixed(1)} µs/call`,
    );
    expect(inputs(0, 20_000).every(([i, c]) => normalizePhone(i, c).ok)).toBe(true);
    expect(ours).toBeLessThan(library / 3);
    expect(cached).toBeLessThan(ours);
  });
});
