// What each workspace says to its customers and how its replies are handled: brand, help text,
// opt-out scope, extra keywords per language, and where order questions go. Pure (zod only).
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod/v4';

const countryCode = z
  .string()
  .trim()
  .transform((c) => c.toUpperCase())
  .refine((c) => /^[A-Z]{2}$/.test(c) && isSupportedCountry(c), {
    message: 'must be a known ISO 3166-1 alpha-2 country code',
  });

const keywordList = z.array(z.string().trim().min(1).max(40)).max(50);
const keywordSet = z
  .object({
    opt_out: keywordList.optional(),
    opt_in: keywordList.optional(),
    help: keywordList.optional(),
    confirm: keywordList.optional(),
    decline: keywordList.optional(),
  })
  .strict();

export const workspaceSettingsSchema = z
  .object({
    brand: z.string().trim().min(1).max(40).optional(),
    support_contact: z.string().trim().min(3).max(80).optional(),
    message_frequency: z.string().trim().min(3).max(60).optional(),
    help_text: z.string().trim().min(1).max(320).optional(),
    opt_out_confirmation: z.string().trim().min(1).max(320).optional(),
    opt_in_confirmation: z.string().trim().min(1).max(320).optional(),
    /** workspace: a STOP silences every sender of the workspace; sender: only the one texted. */
    opt_out_scope: z.enum(['workspace', 'sender']).optional(),
    /** Where replies with order context (order questions, free text to notifications) are posted. */
    reply_webhook_url: z.string().url().optional(),
    /** Hours within which a reply is matched to the latest message sent to that number. */
    reply_window_hours: z
      .number()
      .int()
      .min(1)
      .max(24 * 30)
      .optional(),
    /** Destination countries this workspace may text (SMS-pumping guard); default: the env's set. */
    allowed_countries: z.array(countryCode).max(250).optional(),
    /** Segments accepted per UTC day before sends are refused; null: unlimited. */
    daily_segment_budget: z.number().int().min(1).max(1_000_000_000).nullable().optional(),
    keywords: z
      .object({ en: keywordSet.optional(), es: keywordSet.optional(), fr: keywordSet.optional() })
      .strict()
      .optional(),
  })
  .strict();

export type WorkspaceSettings = z.infer<typeof workspaceSettingsSchema>;

export interface ResolvedSettings extends WorkspaceSettings {
  brand: string;
  opt_out_scope: 'workspace' | 'sender';
  reply_window_hours: number;
  help_text: string;
  opt_out_confirmation: string;
  opt_in_confirmation: string;
}

/** Fills the defaults a carrier expects (CTIA: brand, frequency, rates, help and stop wording). */
export function resolveSettings(workspaceName: string, s: WorkspaceSettings): ResolvedSettings {
  const brand = s.brand ?? workspaceName;
  const support = s.support_contact ? ` Support: ${s.support_contact}.` : '';
  const freq = s.message_frequency ?? 'Msg frequency varies';
  return {
    ...s,
    brand,
    opt_out_scope: s.opt_out_scope ?? 'workspace',
    reply_window_hours: s.reply_window_hours ?? 72,
    help_text:
      s.help_text ?? `${brand}: ${freq}. Msg & data rates may apply.${support} Reply STOP to opt out.`,
    opt_out_confirmation:
      s.opt_out_confirmation ??
      `${brand}: You are unsubscribed and will receive no further messages. Reply START to resubscribe.`,
    opt_in_confirmation:
      s.opt_in_confirmation ??
      `${brand}: You are subscribed again. ${freq}. Msg & data rates may apply. Reply HELP for help, STOP to opt out.`,
  };
}

/** The sending limits of a workspace: its own settings, else the deployment's defaults. */
export interface SendingLimits {
  allowed_countries: string[];
  daily_segment_budget: number | null;
}

export function sendingLimits(s: WorkspaceSettings, defaults: SendingLimits): SendingLimits {
  return {
    allowed_countries: s.allowed_countries ?? defaults.allowed_countries,
    daily_segment_budget:
      s.daily_segment_budget === undefined ? defaults.daily_segment_budget : s.daily_segment_budget,
  };
}
