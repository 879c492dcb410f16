import { describe, expect, it } from 'vitest';
import {
  destinationPolicy,
  destinationRule,
  parseCountryList,
  parsePrefixList,
  refuseDestination,
  refuseNumber,
} from './destination-policy';

describe('destination policy (SMS-pumping guards)', () => {
  const policy = destinationPolicy(['US', 'CA'], ['+1900', '+4470']);

  it('reads country lists in any case and refuses unknown codes by name', () => {
    expect(parseCountryList(' us, CA ,,gb')).toEqual(['US', 'CA', 'GB']);
    expect(parseCountryList(['fr', 'FR'])).toEqual(['FR']);
    expect(() => parseCountryList('US,XX')).toThrow('XX');
  });

  it('reads prefix lists, longest first, and refuses what is not an E.164 prefix', () => {
    expect(parsePrefixList('+1900, +44 70,+1')).toEqual(['+1900', '+4470', '+1']);
    expect(parsePrefixList('')).toEqual([]);
    expect(() => parsePrefixList('1900')).toThrow('1900');
  });

  it('allows a number of an allowed country', () => {
    expect(refuseDestination('+13125550100', 'US', policy)).toBeUndefined();
  });

  it('refuses another country, naming it', () => {
    expect(refuseDestination('+447700900123', 'GB', policy)).toMatchObject({
      code: 'country_not_allowed',
      country: 'GB',
    });
    expect(refuseDestination('+999', null, policy)).toMatchObject({ country: 'unknown' });
  });

  it('refuses a blocked prefix even inside an allowed country', () => {
    expect(refuseDestination('+19005550100', 'US', policy)).toMatchObject({
      code: 'prefix_blocked',
      prefix: '+1900',
    });
  });

  it('looks up the country of a stored number for campaigns', () => {
    expect(refuseNumber('+33612345678', policy)).toMatchObject({
      code: 'country_not_allowed',
      country: 'FR',
    });
    const rule = destinationRule(policy);
    expect(rule('+12015550123', null)).toBeUndefined();
    expect(rule('+447700900123', null)).toBe('country_not_allowed');
  });
});
