// The messages API's request schemas (validated and documented from one zod schema) and the JSON
// shape a message is shown in.
import { z } from 'zod/v4';
import { LIMITS } from '../encoding';
import type { MessageDetail } from './message.repository';

/** Without `allow_long`, longer texts are refused: they cost many segments and are usually a mistake. */
export const MAX_SEGMENTS = 10;
/** Concatenated SMS number their parts in one octet (SMPP UDH / sar_total_segments). */
export const MAX_PARTS = 255;
/** A longer text is over MAX_PARTS segments in any encoding; refusing early spares the analysis. */
export const MAX_BODY_CHARS = MAX_PARTS * LIMITS['GSM-7'].single;
/**
 * Carriers keep an undelivered message for a few days at most (SMSCs commonly cap validity at
 * 72 hours to 7 days); a longer validity would promise what none of them keeps.
 */
export const MAX_VALIDITY_SECONDS = 7 * 24 * 3600;
/** Metadata rides on every row and every reply match; it is context, not a document store. */
export const MAX_METADATA_BYTES = 4096;
/** One batch is one insert and one produce; bigger imports belong to campaigns. */
export const MAX_BATCH = 1000;

export const sendMessageSchema = z
  .object({
    to: z.string().max(64).describe('Recipient; E.164 preferred ("+14155550123").'),
    from: z
      .string()
      .min(1)
      .max(32)
      .optional()
      .describe('A sender address or pool name; omitted = the default pool (sticky per recipient).'),
    body: z.string().max(MAX_BODY_CHARS),
    metadata: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Kept with the message and given to reply handlers (order id, ETA, tracking URL).'),
    validity_seconds: z.number().int().min(1).max(MAX_VALIDITY_SECONDS).optional(),
    status_callback: z.string().optional().describe('https URL receiving each status change.'),
    smart_encoding: z
      .boolean()
      .optional()
      .describe('Replace typographic look-alikes so the text stays GSM-7; defaults to the sender setting.'),
    allow_long: z.boolean().optional().describe(`Allow more than ${MAX_SEGMENTS} segments.`),
  })
  .strict();
export type SendMessageInput = z.infer<typeof sendMessageSchema>;

export const sendBatchSchema = z
  .object({
    // Items are validated one by one so one bad item never refuses the others.
    messages: z.array(z.unknown()).min(1).max(MAX_BATCH),
  })
  .strict();

export const batchDocSchema = z.object({ messages: z.array(sendMessageSchema).min(1).max(MAX_BATCH) });

export interface AcceptedMessage {
  id: string;
  status: 'accepted';
  to: string;
  from: string;
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
}

export interface BatchItemResult {
  index: number;
  id?: string;
  status: 'accepted' | 'invalid';
  to?: string;
  from?: string;
  encoding?: 'GSM-7' | 'UCS-2';
  segments?: number;
  error?: { code: string; message: string; details?: unknown };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A message as GET /v1/messages/:id shows it. */
export function presentMessage(m: MessageDetail) {
  return {
    id: m.id,
    status: m.status,
    type: m.type,
    to: m.to,
    from: m.sender,
    carrier: m.carrierId,
    connector: m.connectorId,
    campaign_id: m.campaignId,
    body: m.body,
    encoding: m.encoding,
    segments: m.segments,
    error_code: m.errorCode,
    error_detail: m.errorDetail,
    metadata: m.metadata,
    status_callback: m.statusCallback,
    auto_reply: m.autoReply,
    valid_until: iso(m.validUntil),
    accepted_at: iso(m.acceptedAt),
    queued_at: iso(m.queuedAt),
    submitted_at: iso(m.submittedAt),
    final_at: iso(m.finalAt),
    updated_at: iso(m.updatedAt),
    parts: m.parts.map((p) => ({
      index: p.partIndex,
      carrier_message_id: p.carrierMessageId,
      connector: p.connectorId,
      status: p.status,
      error_code: p.errorCode,
      submitted_at: iso(p.submittedAt),
      done_at: iso(p.doneAt),
    })),
    events: m.events.map((e) => ({ status: e.status, at: iso(e.at), detail: e.detail })),
    // Receipts for this message that changed nothing: a late one after a final status, a repeat,
    // a state no mapping knows. Kept so every receipt is visible, never applied over the outcome.
    receipts_not_applied: m.receiptsNotApplied.map((r) => ({
      reason: r.reason,
      stat: r.stat,
      raw: r.raw,
      received_at: iso(r.receivedAt),
    })),
  };
}
