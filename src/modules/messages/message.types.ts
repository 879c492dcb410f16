// Message statuses and the envelopes of the outbound and receipt topics. Shared by the API, the
// dispatcher, the receipts consumer, the router and the campaign expander. The sms.inbound
// envelope is the connectors' (carriers/inbound-envelope.ts).
import type { Encoding, RawReceipt } from '../carriers/connector';

export const TERMINAL_STATUSES = [
  'delivered',
  'undelivered',
  'failed',
  'expired',
  'suppressed',
  'rejected',
  'canceled',
  // The carrier may have it: its answer was lost (a crash, a dropped connection) and no receipt
  // could be tied to it within the window. Never sent again; a receipt that fits it later still
  // records the real outcome.
  'unknown',
] as const;
export const STATUSES = [
  'accepted',
  'queued',
  'submitting',
  'submitted',
  'sent',
  ...TERMINAL_STATUSES,
] as const;
export type MessageStatus = (typeof STATUSES)[number];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];
export const isTerminal = (s: string): s is TerminalStatus =>
  (TERMINAL_STATUSES as readonly string[]).includes(s);

export type MessageType = 'transactional' | 'marketing';

/** On sms.outbound (campaigns) and sms.outbound.priority (API), keyed by `to`. JSON. */
export interface OutboundEnvelope {
  id: string;
  workspaceId: string;
  to: string;
  /** The resolved sender address (sticky per recipient within a pool). */
  from: string;
  body: string;
  encoding: Encoding;
  segments: number;
  type: MessageType;
  campaignId?: string;
  /** The campaign's own cap in segments per second; the dispatcher adds a bucket for it. */
  campaignMaxSegmentsPerSecond?: number;
  /** The campaign's share of a carrier relative to other campaigns on it (default 1). */
  campaignWeight?: number;
  /** When the API (or the expander) accepted it, epoch ms: the order per number. */
  acceptedAt: number;
  /** Epoch ms after which it must not leave (validity); expired instead. */
  validUntil?: number;
  /** Marketing only: the local window it may leave in, and the recipient's IANA time zone. */
  quietHours?: { start: string; end: string; timezone: string };
  smartEncoding?: boolean;
  /** Auto-replies and confirmations: never answered by another auto-reply. */
  autoReply?: boolean;
  /** The opt-out confirmation is the one message allowed after STOP. */
  optOutConfirmation?: boolean;
  /**
   * What the row of a message that has none yet (a campaign's: its row is written when a
   * dispatcher takes it) carries beside the fields above.
   */
  metadata?: Record<string, unknown>;
  statusCallback?: string;
}

/** On sms.receipts, keyed by recipient. */
export type ReceiptEnvelope = RawReceipt;
