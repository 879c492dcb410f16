// Reading outbound records: a Kafka record is trusted only once it parses as an OutboundEnvelope.
// A record that does not is sent to the DLQ with the reason instead of stopping the partition.
// Pure (zod only).
import { z } from 'zod/v4';
import type { OutboundEnvelope } from '../messages/message.types';

const hhmm = z.string().regex(/^\d{2}:\d{2}$/, 'HH:MM');

const envelopeSchema = z.object({
  id: z.uuid(),
  workspaceId: z.uuid(),
  to: z.string().regex(/^\+\d{6,15}$/, 'E.164'),
  from: z.string().min(1),
  body: z.string().min(1),
  encoding: z.enum(['GSM-7', 'UCS-2']),
  segments: z.number().int().min(1),
  type: z.enum(['transactional', 'marketing']),
  campaignId: z.uuid().optional(),
  acceptedAt: z.number().int().nonnegative(),
  validUntil: z.number().int().nonnegative().optional(),
  quietHours: z.object({ start: hhmm, end: hhmm, timezone: z.string().min(1) }).optional(),
  smartEncoding: z.boolean().optional(),
  autoReply: z.boolean().optional(),
  optOutConfirmation: z.boolean().optional(),
  /**
   * A campaign's own cap (segments per second), carried by the expander when the campaign has
   * one; the dispatcher adds a per-campaign bucket for it.
   */
  campaignMaxSegmentsPerSecond: z.number().positive().optional(),
  /** The campaign's share of a carrier relative to other campaigns on it. */
  campaignWeight: z.number().positive().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  statusCallback: z.string().min(1).optional(),
});

export type DispatchEnvelope = OutboundEnvelope & { campaignMaxSegmentsPerSecond?: number };

export type ParsedRecord = { ok: true; envelope: DispatchEnvelope } | { ok: false; reason: string };

export function parseOutbound(value: Buffer | null): ParsedRecord {
  if (!value || value.length === 0) return { ok: false, reason: 'empty record' };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (e) {
    return { ok: false, reason: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  // Nulls from other producers read as absent.
  if (raw && typeof raw === 'object' && !Array.isArray(raw))
    raw = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null));
  const r = envelopeSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, reason: `invalid envelope: ${i.path.join('.') || '(root)'}: ${i.message}` };
  }
  return { ok: true, envelope: r.data as DispatchEnvelope };
}
