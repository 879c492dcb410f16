// The shapes every writer of the message record shares (the API, the dispatcher, the receipts
// consumer): what a change is, what a change that took effect reports back for callbacks and
// metrics, and how the SQL rows map to them. No SQL and no framework here; each writer's
// repository holds its own statements.
import type { Encoding } from '../carriers/connector';
import type { MessageStatus, MessageType } from './message.types';

/** A message as the API (or, at its take, the dispatcher for a campaign) records it. */
export interface AcceptedRow {
  id: string;
  workspaceId: string;
  campaignId?: string | null;
  type: MessageType;
  /** Recipient, E.164. */
  to: string;
  /** Sender address (E.164 or short code). */
  sender: string;
  carrierId?: string | null;
  connectorId?: string | null;
  body: string;
  encoding: Encoding;
  segments: number;
  metadata?: Record<string, unknown>;
  statusCallback?: string | null;
  validUntil?: Date | null;
  acceptedAt?: Date;
  autoReply?: boolean;
}

export interface SubmittedRow {
  id: string;
  carrierId: string;
  connectorId: string;
  /** One per part, in part order. */
  carrierMessageIds: string[];
  /** The same ids as their connector's receipts are looked up by (carriers/receipt-id.ts). */
  receiptKeys: string[];
  submittedAt: Date;
}

export interface StatusChange {
  id: string;
  status: MessageStatus;
  errorCode?: string | null;
  /** Human-readable reason; kept as the message's error_detail. */
  detail?: string | null;
  /** What decided it (a receipt's fields, a refusal's facts): the row's `outcome`, or an event. */
  event?: Record<string, unknown>;
  at: Date;
}

/** A status change that took effect, with what callers need for callbacks and metrics. */
export interface AppliedChange {
  id: string;
  workspaceId: string;
  campaignId: string | null;
  statusCallback: string | null;
  type: MessageType;
  to: string;
  sender: string;
  carrierId: string | null;
  connectorId: string | null;
  segments: number;
  status: MessageStatus;
  previousStatus: MessageStatus;
  errorCode: string | null;
  errorDetail: string | null;
  at: Date;
  acceptedAt: Date;
  submittedAt: Date | null;
}

/**
 * What a statement returns for each change that took effect: times as epoch milliseconds (a
 * float parses in a fraction of what a timestamp does, and receipts return thousands a second).
 */
export interface AppliedRow {
  id: string;
  workspace_id: string;
  campaign_id: string | null;
  status_callback: string | null;
  type: MessageType;
  to_e164: string;
  sender: string;
  carrier_id: string | null;
  connector_id: string | null;
  segments: number;
  status: MessageStatus;
  previous_status: MessageStatus;
  error_code: string | null;
  error_detail: string | null;
  accepted_ms: number;
  submitted_ms: number | null;
}

export function toApplied(r: AppliedRow, at: Date): AppliedChange {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    campaignId: r.campaign_id,
    statusCallback: r.status_callback,
    type: r.type,
    to: r.to_e164,
    sender: r.sender,
    carrierId: r.carrier_id,
    connectorId: r.connector_id,
    segments: r.segments,
    status: r.status,
    previousStatus: r.previous_status,
    errorCode: r.error_code,
    errorDetail: r.error_detail,
    at,
    acceptedAt: new Date(Number(r.accepted_ms)),
    submittedAt: r.submitted_ms === null ? null : new Date(Number(r.submitted_ms)),
  };
}

/**
 * Splits changes into rounds in which each key appears once, keeping each key's changes in the
 * order given: one UPDATE cannot apply two changes to the same row, and a batch may well hold
 * `sent` and `delivered` for one message.
 */
export function roundsByKey<T>(changes: readonly T[], keyOf: (c: T) => string): T[][] {
  const rounds: T[][] = [];
  const seen = new Map<string, number>();
  for (const c of changes) {
    const k = keyOf(c);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    (rounds[n] ??= []).push(c);
  }
  return rounds;
}

/** One part of one message: what a receipt, once matched, changes. */
export interface PartRef {
  messageId: string;
  partIndex: number;
}

export interface MessagePart {
  messageId: string;
  workspaceId: string;
  partIndex: number;
  carrierMessageId: string;
  connectorId: string;
  status: MessageStatus;
  errorCode: string | null;
  submittedAt: Date;
  doneAt: Date | null;
}

/** Messages and segments per status of one campaign. */
export interface CampaignStatusCount {
  status: MessageStatus;
  messages: number;
  segments: number;
}
