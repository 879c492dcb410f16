// A campaign's reply handlers: which replies (by intent or exact keyword) trigger which actions —
// record a confirmation or decline, auto-reply with a template, call a webhook, open an inbox item.
// Pure (zod only): evaluated by the reply router, and validated by campaigns when a campaign is created.
import { z } from 'zod/v4';

export const REPLY_INTENTS = [
  'opt_out',
  'opt_in',
  'help',
  'confirm',
  'decline',
  'order_question',
  'other',
] as const;
export type HandlerIntent = (typeof REPLY_INTENTS)[number];

export const replyHandlerSchema = z
  .object({
    /** Matches replies of this intent (opt_out, opt_in and help are compliance-handled and not allowed). */
    intent: z.enum(['confirm', 'decline', 'order_question', 'other']).optional(),
    /** Matches a reply whose whole text is this keyword (case and accents ignored), e.g. "MENU". */
    keyword: z.string().trim().min(1).max(40).optional(),
    record: z.enum(['confirmation', 'decline']).optional(),
    /** Template; may use the matched message's metadata and the contact's fields: "Your order {{order_id}} arrives {{eta}}". */
    auto_reply: z.string().trim().min(1).max(1_000).optional(),
    webhook: z.string().url().optional(),
    inbox: z.boolean().optional(),
  })
  .strict()
  .refine((h) => h.intent || h.keyword, { message: 'a handler needs an intent or a keyword' })
  .refine((h) => h.record || h.auto_reply || h.webhook || h.inbox, {
    message: 'a handler needs at least one action: record, auto_reply, webhook or inbox',
  });

export const replyHandlersSchema = z.array(replyHandlerSchema).max(50);
export type ReplyHandler = z.infer<typeof replyHandlerSchema>;

const fold = (s: string) =>
  s
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
    .toLowerCase();

/** The handler for a reply: an exact keyword match wins over an intent match; first one listed wins. */
export function handlerFor(
  handlers: readonly ReplyHandler[],
  intent: string,
  text: string,
): ReplyHandler | undefined {
  const folded = fold(text);
  return (
    handlers.find((h) => h.keyword !== undefined && fold(h.keyword) === folded) ??
    handlers.find((h) => h.intent !== undefined && h.intent === intent)
  );
}
