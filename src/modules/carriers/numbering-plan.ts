// libphonenumber's numbering plans (the "max" metadata, so line types are known) with their regular
// expressions compiled once. libphonenumber-js builds a new RegExp from the metadata's pattern
// source on every match, which is most of its cost (tens of microseconds a number); an import of a
// million rows and every send ask the same few hundred patterns again and again. The rules here
// mirror libphonenumber's getNumberType and country-by-national-number exactly, and phone-number.ts
// only trusts an answer from here when it is a valid number: anything else goes to libphonenumber
// itself, and a spec compares both on many numbers.
import { Metadata } from 'libphonenumber-js/core';
import metadataJson from 'libphonenumber-js/metadata.max.json';

/** The numbering-plan methods of libphonenumber-js's Metadata that its type declarations omit. */
interface PlanApi {
  callingCode(): string;
  nationalNumberPattern(): string;
  possibleLengths(): number[] | undefined;
  leadingDigits(): string | undefined;
  IDDPrefix(): string;
  nationalPrefix(): string | undefined;
  nationalPrefixForParsing(): string | undefined;
  nationalPrefixTransformRule(): string | undefined;
  type(name: string): { pattern(): string; possibleLengths(): number[] | undefined } | undefined;
}
interface MetadataApi {
  numberingPlan: PlanApi;
  selectNumberingPlan(countryOrCallingCode: string): void;
  hasCallingCode(callingCode: string): boolean;
  isNonGeographicCallingCode(callingCode: string): boolean;
  getCountryCodesForCallingCode(callingCode: string): string[] | undefined;
}

export type LineType =
  | 'FIXED_LINE'
  | 'MOBILE'
  | 'FIXED_LINE_OR_MOBILE'
  | 'PREMIUM_RATE'
  | 'TOLL_FREE'
  | 'SHARED_COST'
  | 'VOIP'
  | 'PERSONAL_NUMBER'
  | 'PAGER'
  | 'UAN'
  | 'VOICEMAIL';

const NON_FIXED_LINE_TYPES: LineType[] = [
  'MOBILE',
  'PREMIUM_RATE',
  'TOLL_FREE',
  'SHARED_COST',
  'VOIP',
  'PERSONAL_NUMBER',
  'PAGER',
  'UAN',
  'VOICEMAIL',
];

interface TypeRule {
  re: RegExp;
  lengths?: number[];
}

export interface Plan {
  /** ISO country, or the calling code for non-geographic plans (+800, +882…). */
  id: string;
  callingCode: string;
  national: RegExp;
  leading?: RegExp;
  idd?: RegExp;
  /** Plain-digit national prefixes for parsing ("0", "1", "0|180020"), in the order tried. */
  nationalPrefixes?: string[];
  types: Map<LineType, TypeRule>;
  /** The mobile pattern was dropped from the metadata as a duplicate of the fixed-line one. */
  mobileSameAsFixed: boolean;
}

const metadata = new Metadata(metadataJson) as unknown as MetadataApi;
const plans = new Map<string, Plan>();

export function planOf(id: string): Plan {
  let plan = plans.get(id);
  if (!plan) {
    metadata.selectNumberingPlan(id);
    const p = metadata.numberingPlan;
    const types = new Map<LineType, TypeRule>();
    for (const name of ['FIXED_LINE', ...NON_FIXED_LINE_TYPES] as LineType[]) {
      const t = p.type(name);
      const pattern = t?.pattern();
      if (t && pattern) types.set(name, { re: new RegExp(`^(?:${pattern})$`), lengths: t.possibleLengths() });
    }
    const mobile = p.type('MOBILE');
    const leading = p.leadingDigits();
    const forParsing = p.nationalPrefixForParsing();
    plan = {
      id,
      callingCode: p.callingCode(),
      national: new RegExp(`^(?:${p.nationalNumberPattern()})$`),
      leading: leading ? new RegExp(`^(?:${leading})`) : undefined,
      idd: p.IDDPrefix() ? new RegExp(`^(?:${p.IDDPrefix()})`) : undefined,
      // Only prefixes that are plain digits are taken here; regex prefixes with transform rules
      // (Argentina's "15", Brazil's carrier codes) are left to libphonenumber.
      nationalPrefixes:
        forParsing && /^\d+(?:\|\d+)*$/.test(forParsing) && !p.nationalPrefixTransformRule()
          ? forParsing.split('|')
          : undefined,
      types,
      mobileSameAsFixed: !mobile || mobile.pattern() === '',
    };
    plans.set(id, plan);
  }
  return plan;
}

function isType(plan: Plan, nationalNumber: string, name: LineType): boolean {
  const rule = plan.types.get(name);
  if (!rule) return false;
  if (rule.lengths && !rule.lengths.includes(nationalNumber.length)) return false;
  return rule.re.test(nationalNumber);
}

/** libphonenumber's getNumberType: undefined means the number is not valid in this plan. */
export function lineTypeOf(plan: Plan, nationalNumber: string): LineType | undefined {
  if (!plan.national.test(nationalNumber)) return undefined;
  if (isType(plan, nationalNumber, 'FIXED_LINE')) {
    if (plan.mobileSameAsFixed || isType(plan, nationalNumber, 'MOBILE')) return 'FIXED_LINE_OR_MOBILE';
    return 'FIXED_LINE';
  }
  for (const name of NON_FIXED_LINE_TYPES) if (isType(plan, nationalNumber, name)) return name;
  return undefined;
}

export interface ValidNumber {
  e164: string;
  /** ISO country; undefined for non-geographic numbers. */
  country?: string;
  type: LineType;
}

const callingCodes = new Map<string, { countries?: string[]; nonGeographic: boolean } | null>();

function callingCodeInfo(cc: string) {
  let info = callingCodes.get(cc);
  if (info === undefined) {
    info = metadata.hasCallingCode(cc)
      ? {
          countries: metadata.getCountryCodesForCallingCode(cc),
          nonGeographic: metadata.isNonGeographicCallingCode(cc),
        }
      : null;
    callingCodes.set(cc, info);
  }
  return info;
}

/**
 * A number given as international digits (no "+"), if it is valid: calling code, then the country
 * among those sharing it (leading digits, else the first whose patterns match, the main country
 * first), then the line type.
 */
export function validInternational(digits: string): ValidNumber | undefined {
  // Calling codes are prefix-free, so the first (shortest) match is the only one.
  for (let n = 1; n <= 3 && n < digits.length; n++) {
    const info = callingCodeInfo(digits.slice(0, n));
    if (!info) continue;
    const national = digits.slice(n);
    if (info.nonGeographic) {
      const type = lineTypeOf(planOf(digits.slice(0, n)), national);
      return type ? { e164: `+${digits}`, type } : undefined;
    }
    const countries = info.countries ?? [];
    if (countries.length === 1) {
      const type = lineTypeOf(planOf(countries[0]), national);
      return type ? { e164: `+${digits}`, country: countries[0], type } : undefined;
    }
    for (const country of countries) {
      const plan = planOf(country);
      // A country with leading digits claims the number by them alone; the others by their
      // patterns, which also give the type.
      if (plan.leading) {
        if (!plan.leading.test(national)) continue;
        const type = lineTypeOf(plan, national);
        return type ? { e164: `+${digits}`, country, type } : undefined;
      }
      const type = lineTypeOf(plan, national);
      if (type) return { e164: `+${digits}`, country, type };
    }
    return undefined;
  }
  return undefined;
}

/**
 * A number dialled inside `country` (digits only), if it is valid: an international dialling
 * prefix followed by a number, or the national prefix followed by a national number, or a national
 * number alone. Only answers libphonenumber would give the same way; undefined means "ask it".
 */
export function validNational(digits: string, country: string): ValidNumber | undefined {
  const plan = planOf(country);
  const idd = plan.idd?.exec(digits);
  if (idd) {
    const rest = digits.slice(idd[0].length);
    // libphonenumber does not take a prefix followed by 0 as international dialling.
    if (rest[0] !== '0') return validInternational(rest);
    return undefined;
  }
  if (!plan.nationalPrefixes) return undefined;
  const prefix = plan.nationalPrefixes.find((p) => digits.startsWith(p));
  if (prefix) {
    // libphonenumber strips the national prefix whenever what remains is a valid number; when it
    // is not, its answer depends on finer rules, so it is asked.
    return validInternational(plan.callingCode + digits.slice(prefix.length));
  }
  return validInternational(plan.callingCode + digits);
}
