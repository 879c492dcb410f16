// What the router still owes an inbound message after its commit (auto-replies, webhooks, inbox
// items, recorded responses): stored as JSON with the row until carried out, and turned back into
// the routed message exactly as it was decided, so finishing it later never decides it again. Pure.
import type { InboundEnvelope } from '../carriers/inbound-envelope';
import type { ReplyClassification } from './classifier';
import type { Decision, RouterAction } from './reply-decision';
import type { PendingInbound, ThreadMatch } from './replies.repository';

/** An inbound message as the router matched and decided it. */
export interface Routed {
  env: InboundEnvelope;
  workspaceId: string | null;
  match?: ThreadMatch;
  decision?: Decision;
  classification: ReplyClassification;
}

/** The actions that happen after the commit (everything but the consent changes). */
const FOLLOW_UP_KINDS = new Set<RouterAction['kind']>(['record', 'inbox', 'auto_reply', 'webhook']);

/** What is stored with an inbound row until its follow-ups are carried out (JSON). */
export interface FollowUps {
  decision: Decision;
  classification: ReplyClassification;
  match?: Omit<ThreadMatch, 'acceptedAt'> & { acceptedAt: string };
}

/** The follow-ups to store with a routed message's row, or null when nothing follows its commit. */
export function followUpsOf(r: Routed): FollowUps | null {
  if (!r.workspaceId || !r.decision) return null;
  const actions = r.decision.actions.filter((a) => FOLLOW_UP_KINDS.has(a.kind));
  if (!actions.length) return null;
  return {
    decision: { intent: r.decision.intent, actions },
    classification: r.classification,
    ...(r.match ? { match: { ...r.match, acceptedAt: r.match.acceptedAt.toISOString() } } : {}),
  };
}

/** A stored row's unfinished follow-ups, as the router routed it the first time. */
export function revive(p: PendingInbound): Routed {
  const f = p.followUps as FollowUps;
  return {
    env: {
      id: p.id,
      connectorId: p.connectorId,
      from: p.from,
      to: p.to,
      body: p.body,
      receivedAt: p.receivedAt.getTime(),
    },
    workspaceId: p.workspaceId,
    decision: f.decision,
    classification: f.classification,
    ...(f.match ? { match: { ...f.match, acceptedAt: new Date(f.match.acceptedAt) } } : {}),
  };
}
