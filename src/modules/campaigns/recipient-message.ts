// What one recipient of a campaign gets: the variables a template may use, the rendered text, and
// whether (and when) quiet hours let it leave; and the walk over a page of recipients that both the
// plan and the expansion use, so the plan counts exactly what will be sent. Pure.
import { analyzeText } from '../encoding';
import type { Recipient } from '../audiences/segment.repository';
import { QuietHoursWindow, isAllowedAt, nextAllowedAt, timezoneOf, windowFor } from './quiet-hours';
import { CompiledTemplate } from '../templates/template';

export const MAX_CAMPAIGN_SEGMENTS = 10;

export function templateVars(r: Recipient): Record<string, unknown> {
  return {
    ...(r.attributes ?? {}),
    ...(r.first_name ? { first_name: r.first_name } : {}),
    ...(r.last_name ? { last_name: r.last_name } : {}),
    ...(r.email ? { email: r.email } : {}),
    ...(r.country ? { country: r.country } : {}),
    phone: r.e164,
  };
}

export type RecipientOutcome =
  | {
      ok: true;
      text: string;
      encoding: 'GSM-7' | 'UCS-2';
      segments: number;
      timezone?: string;
      window?: QuietHoursWindow;
    }
  | { ok: false; reason: 'not_opted_in' | 'invalid' | 'missing_variables'; missing?: string[] };

export function messageFor(
  r: Recipient,
  template: CompiledTemplate,
  opts: {
    marketing: boolean;
    override?: QuietHoursWindow | null;
    allowLong?: boolean;
    smartEncoding?: boolean;
  },
): RecipientOutcome {
  // Marketing needs recorded consent; transactional messages need only not to be opted out.
  if (opts.marketing && r.consent !== 'opted_in') return { ok: false, reason: 'not_opted_in' };
  const rendered = template(templateVars(r));
  if (rendered.missing.length) return { ok: false, reason: 'missing_variables', missing: rendered.missing };
  const text = rendered.text;
  if (!text.trim()) return { ok: false, reason: 'invalid' };
  const a = analyzeText(text, { smartEncoding: opts.smartEncoding });
  if (!opts.allowLong && a.segments > MAX_CAMPAIGN_SEGMENTS) return { ok: false, reason: 'invalid' };
  if (!opts.marketing) return { ok: true, text: a.text, encoding: a.encoding, segments: a.segments };
  return {
    ok: true,
    text: a.text,
    encoding: a.encoding,
    segments: a.segments,
    timezone: timezoneOf(r.e164, r.timezone),
    window: windowFor(r.e164, opts.override ?? undefined),
  };
}

/** Why a recipient gets nothing (the plan's exclusions, plus a template variable it lacks). */
export type RecipientExclusion =
  | 'opted_out'
  | 'no_route'
  | 'not_opted_in'
  | 'invalid'
  | 'missing_variables'
  | 'country_not_allowed'
  | 'prefix_blocked';

export type RecipientVerdict<R extends Recipient> =
  | { ok: true; recipient: R; carrierId: string; message: Extract<RecipientOutcome, { ok: true }> }
  | { ok: false; recipient: R; reason: RecipientExclusion; missing?: string[] };

/** What decides every recipient of one campaign. */
export interface CampaignRules {
  template: CompiledTemplate;
  marketing: boolean;
  override?: QuietHoursWindow | null;
  allowLong?: boolean;
  /** The carrier that serves a number (undefined: no route). */
  carrierOf: (e164: string) => { id: string } | undefined;
  /** Why the workspace may not text a number (SMS-pumping guards), or undefined. */
  refuseDestination?: (
    e164: string,
    country: string | null,
  ) => 'country_not_allowed' | 'prefix_blocked' | undefined;
}

/**
 * The verdict on each recipient of a page, in order: opted out, a destination the workspace may
 * not text (country, blocked prefix), no carrier route, or what
 * messageFor says (consent for marketing, template, text, segment limit).
 */
export function* verdictsFor<R extends Recipient & { optedOut?: boolean }>(
  page: Iterable<R>,
  rules: CampaignRules,
): Generator<RecipientVerdict<R>> {
  const opts = { marketing: rules.marketing, override: rules.override, allowLong: rules.allowLong };
  for (const recipient of page) {
    if (recipient.optedOut) {
      yield { ok: false, recipient, reason: 'opted_out' };
      continue;
    }
    const refusal = rules.refuseDestination?.(recipient.e164, recipient.country);
    if (refusal) {
      yield { ok: false, recipient, reason: refusal };
      continue;
    }
    const carrier = rules.carrierOf(recipient.e164);
    if (!carrier) {
      yield { ok: false, recipient, reason: 'no_route' };
      continue;
    }
    const message = messageFor(recipient, rules.template, opts);
    if (message.ok) yield { ok: true, recipient, carrierId: carrier.id, message };
    else yield { ok: false, recipient, reason: message.reason, missing: message.missing };
  }
}

/** Seconds from `at` until the recipient may be texted (0 when allowed now). */
export function quietWait(
  at: Date,
  timezone: string | undefined,
  window: QuietHoursWindow | undefined,
): number {
  if (!timezone || !window) return 0;
  if (isAllowedAt(at, timezone, window)) return 0;
  return (nextAllowedAt(at, timezone, window).getTime() - at.getTime()) / 1000;
}
