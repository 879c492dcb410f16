// What one recipient of a campaign gets: the variables a template may use, the rendered text, and
// whether (and when) quiet hours let it leave. Pure; shared by the plan and the expansion so the
// plan counts exactly what will be sent.
import { analyzeText } from '../encoding';
import type { Recipient } from '../audiences/segment.repository';
import { QuietHoursWindow, isAllowedAt, nextAllowedAt, timezoneOf, windowFor } from './quiet-hours';
import { CompiledTemplate } from './template';

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
