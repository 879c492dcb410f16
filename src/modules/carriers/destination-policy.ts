// Where a workspace may send (guards against SMS pumping: a leaked key texting premium ranges in
// many countries). Pure: the messages API checks every recipient, campaigns every planned one.
import { isSupportedCountry } from 'libphonenumber-js/max';
import { normalizePhone } from './phone-number';

/** Why a destination is refused; the API answers 403 with this code. */
export type DestinationRefusal =
  | { code: 'country_not_allowed'; country: string; message: string }
  | { code: 'prefix_blocked'; prefix: string; message: string };

export interface DestinationPolicy {
  /** ISO alpha-2 codes, upper case. */
  allowedCountries: ReadonlySet<string>;
  /** E.164 prefixes ("+1900"), longest first. */
  blockedPrefixes: readonly string[];
}

/** "us, CA" → ['US', 'CA']; throws naming a code libphonenumber does not know. */
export function parseCountryList(text: string | readonly string[]): string[] {
  const items = typeof text === 'string' ? text.split(',') : text;
  const codes = items.map((c) => c.trim().toUpperCase()).filter((c) => c !== '');
  const unknown = codes.filter((c) => !isKnownCountry(c));
  if (unknown.length) throw new Error(`unknown ISO 3166-1 alpha-2 code(s): ${unknown.join(', ')}`);
  return [...new Set(codes)];
}

export function isKnownCountry(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

/** "+1900, +44 9" → ['+1900', '+449'] (spaces inside a prefix are ignored), longest first. */
export function parsePrefixList(text: string): string[] {
  const prefixes = text
    .split(',')
    .map((p) => p.replace(/\s+/g, ''))
    .filter((p) => p !== '');
  const bad = prefixes.filter((p) => !/^\+\d{1,14}$/.test(p));
  if (bad.length) throw new Error(`not an E.164 prefix: ${bad.join(', ')}`);
  return [...new Set(prefixes)].sort((a, b) => b.length - a.length);
}

export function destinationPolicy(
  allowedCountries: readonly string[],
  blockedPrefixes: readonly string[],
): DestinationPolicy {
  return {
    allowedCountries: new Set(allowedCountries.map((c) => c.toUpperCase())),
    // parsePrefixList sorts already; a list from elsewhere may not be.
    blockedPrefixes: [...blockedPrefixes].sort((a, b) => b.length - a.length),
  };
}

/**
 * Why `e164` may not be texted, or undefined. A blocked prefix wins over the country (it is the
 * narrower, deliberate rule); a number whose country is unknown is refused as country "unknown".
 */
export function refuseDestination(
  e164: string,
  country: string | null | undefined,
  policy: DestinationPolicy,
): DestinationRefusal | undefined {
  const prefix = policy.blockedPrefixes.find((p) => e164.startsWith(p));
  if (prefix) return { code: 'prefix_blocked', prefix, message: `${e164} is in the blocked range ${prefix}` };
  const c = country?.toUpperCase() ?? 'unknown';
  if (!policy.allowedCountries.has(c)) {
    return {
      code: 'country_not_allowed',
      country: c,
      message: `${c} is not an allowed destination country of this workspace (allowed_countries)`,
    };
  }
  return undefined;
}

/** refuseDestination for a stored E.164 number (a campaign's recipient): its country is looked up. */
export function refuseNumber(e164: string, policy: DestinationPolicy): DestinationRefusal | undefined {
  const phone = normalizePhone(e164);
  return refuseDestination(e164, phone.ok ? phone.country : null, policy);
}

/**
 * The campaigns' form: the refusal code for a recipient's number, or undefined. A contact's country
 * was read from its number at import; only one stored without it is parsed again.
 */
export function destinationRule(
  policy: DestinationPolicy,
): (e164: string, country: string | null) => DestinationRefusal['code'] | undefined {
  return (e164, country) =>
    (country ? refuseDestination(e164, country, policy) : refuseNumber(e164, policy))?.code;
}
