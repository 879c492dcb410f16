// The message status state machine, and how a multipart message's status is built from its parts.
// Pure: the repository encodes ALLOWED_TRANSITIONS into its SQL so the database enforces exactly
// these rules even when several consumers race on one message.
import { MessageStatus, STATUSES, TerminalStatus, isTerminal } from './message.types';

/**
 * How far along a message is. Terminal statuses share the top rank: none follows another, except
 * a multipart message re-aggregated from its parts (see canReaggregate).
 */
const RANK: Record<MessageStatus, number> = {
  accepted: 0,
  queued: 1,
  submitting: 2,
  submitted: 3,
  sent: 4,
  delivered: 5,
  undelivered: 5,
  failed: 5,
  expired: 5,
  suppressed: 5,
  rejected: 5,
  canceled: 5,
  unknown: 5,
};

export const rank = (s: MessageStatus): number => RANK[s];

// Where each status may go next. Suppressed and canceled only while the message is still ours
// (canceling a claimed message would be a lie: the dispatcher is already sending it; suppression
// is decided by the dispatcher itself while it holds the claim). Rejected and canceled stay
// reachable after submit because carriers report them in receipts too (SMPP REJECTD, a provider's
// `canceled`). Failed and expired can end any live message (permanent refusal, exhausted retries,
// validity over, carrier expiry).
const NEXT: Record<MessageStatus, readonly MessageStatus[]> = {
  accepted: ['queued', 'submitting', 'failed', 'expired', 'suppressed', 'rejected', 'canceled'],
  queued: ['submitting', 'failed', 'expired', 'suppressed', 'rejected', 'canceled'],
  submitting: [
    'submitted',
    'sent',
    'delivered',
    'undelivered',
    'failed',
    'expired',
    'suppressed',
    'rejected',
    'unknown',
  ],
  submitted: ['sent', 'delivered', 'undelivered', 'failed', 'expired', 'rejected', 'canceled'],
  sent: ['delivered', 'undelivered', 'failed', 'expired', 'rejected', 'canceled'],
  delivered: [],
  undelivered: [],
  failed: [],
  expired: [],
  suppressed: [],
  rejected: [],
  canceled: [],
  // A receipt tied to it later (by connector, recipient and time) still tells what happened.
  unknown: ['delivered', 'undelivered', 'failed', 'expired', 'rejected'],
};

/** Every allowed change as `from>to`, for SQL (`m.status || '>' || new = any(...)`). */
export const ALLOWED_TRANSITIONS: readonly string[] = STATUSES.flatMap((from) =>
  NEXT[from].map((to) => `${from}>${to}`),
);

export const isStatus = (s: string): s is MessageStatus => (STATUSES as readonly string[]).includes(s);

/** Whether a message (or one part) in `from` may move to `to`. Staying put is not a change. */
export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return NEXT[from].includes(to);
}

/** Final outcomes a carrier reports for parts; only these take part in aggregation. */
export const RECEIPT_FINAL = [
  'delivered',
  'undelivered',
  'failed',
  'expired',
  'rejected',
  'canceled',
] as const;
export type ReceiptFinal = (typeof RECEIPT_FINAL)[number];
const isReceiptFinal = (s: string): s is ReceiptFinal => (RECEIPT_FINAL as readonly string[]).includes(s);

// Which non-delivered outcome describes a message whose parts ended differently: a hard failure
// says more than "the handset was unreachable", which says more than a timeout.
const SEVERITY: Record<TerminalStatus, number> = {
  failed: 5,
  undelivered: 4,
  rejected: 3,
  expired: 2,
  canceled: 1,
  suppressed: 1,
  unknown: 1,
  delivered: 0,
};

/**
 * How parts make one status.
 * - `any_failure` (default): delivered once every part is delivered; as soon as any part ends
 *   otherwise the message takes the worst such outcome.
 * - `all_final`: nothing is decided until every part has a final receipt; then delivered if all
 *   were, else the worst outcome.
 * - `any_delivered`: for carriers that acknowledge a concatenated message with one receipt:
 *   delivered as soon as any part is; otherwise the worst outcome once all parts are final.
 */
export const MULTIPART_RULES = ['any_failure', 'all_final', 'any_delivered'] as const;
export type MultipartRule = (typeof MULTIPART_RULES)[number];
export const DEFAULT_MULTIPART_RULE: MultipartRule = 'any_failure';

function worstOf(statuses: TerminalStatus[]): TerminalStatus | undefined {
  let worst: TerminalStatus | undefined;
  for (const s of statuses) if (!worst || SEVERITY[s] > SEVERITY[worst]) worst = s;
  return worst;
}

/**
 * The message status its parts add up to. Until the rule decides, the message is `sent` when any
 * part has progressed past the carrier's acceptance, else `submitted`.
 */
export function aggregateParts(
  parts: readonly MessageStatus[],
  rule: MultipartRule = DEFAULT_MULTIPART_RULE,
): MessageStatus {
  if (parts.length === 0) throw new Error('aggregateParts: parts must not be empty');
  const finals = parts.filter(isTerminal);
  const allFinal = finals.length === parts.length;
  const worst = worstOf(finals.filter((s) => s !== 'delivered'));
  const anyDelivered = finals.includes('delivered');
  const pending: MessageStatus = parts.some((s) => rank(s) >= RANK.sent) ? 'sent' : 'submitted';
  switch (rule) {
    case 'any_failure':
      if (worst) return worst;
      return allFinal ? 'delivered' : pending;
    case 'all_final':
      if (!allFinal) return pending;
      return worst ?? 'delivered';
    case 'any_delivered':
      if (anyDelivered) return 'delivered';
      return allFinal ? (worst ?? 'delivered') : pending;
  }
}

/**
 * The one exception to "terminal stays": a multipart message whose aggregate moves from one
 * carrier outcome to a worse-described one as later parts report (undelivered, then a part
 * failed). Delivered never changes; suppressed never does. Only messages with parts (that is,
 * submitted ones) are ever re-aggregated, so a cancel of our own is never overwritten.
 */
export function canReaggregate(from: MessageStatus, to: MessageStatus): boolean {
  if (from === to || from === 'delivered') return false;
  if (!isReceiptFinal(from) || !isReceiptFinal(to)) return false;
  return SEVERITY[to] > SEVERITY[from];
}
