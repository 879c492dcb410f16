// How the current consent of a number follows from its ledger (pure; the repository keeps the
// consent_state table by exactly these rules, incrementally, in the event's own transaction):
// - the latest event wins, by occurred_at (an import of an old opt-in never undoes a newer STOP);
// - an opt-out scoped to the workspace suppresses every sender of the workspace;
// - an opt-out scoped to a sender suppresses only that sender;
// - an opt-in scoped to the workspace (START, UNSTOP, YES, an opted-in import row) clears every
//   earlier opt-out of the number in the workspace; one scoped to a sender clears only that sender.

export type ConsentKind = 'opt_in' | 'opt_out';
export type ConsentScope = 'workspace' | 'sender';
export type ConsentStatus = 'opted_in' | 'opted_out';

export interface ConsentEventLike {
  kind: ConsentKind;
  scope: ConsentScope;
  /** '' (or absent) for the workspace scope. */
  senderAddress?: string | null;
  source: string;
  occurredAt: Date;
}

export interface ScopeState {
  /** '' for the workspace-wide state. */
  senderAddress: string;
  status: ConsentStatus;
  source: string;
  since: Date;
}

export interface ConsentSummary {
  /** Workspace-wide: 'none' when the ledger has no workspace-scoped event for the number. */
  status: ConsentStatus | 'none';
  since: Date | null;
  source: string | null;
  /** Sender-scoped states (opt-outs towards one sender, and what cleared them). */
  senders: { sender_address: string; status: ConsentStatus; since: Date; source: string }[];
}

export const WORKSPACE_KEY = '';

/** The state per scope key after applying the events in time order (ties keep input order). */
export function deriveConsentState(events: readonly ConsentEventLike[]): Map<string, ScopeState> {
  const ordered = events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.occurredAt.getTime() - b.e.occurredAt.getTime() || a.i - b.i)
    .map((x) => x.e);
  const state = new Map<string, ScopeState>();
  for (const e of ordered) {
    const status: ConsentStatus = e.kind === 'opt_in' ? 'opted_in' : 'opted_out';
    const key = e.scope === 'workspace' ? WORKSPACE_KEY : (e.senderAddress ?? '');
    state.set(key, { senderAddress: key, status, source: e.source, since: e.occurredAt });
    if (e.kind === 'opt_in' && e.scope === 'workspace') {
      for (const [k, s] of state) {
        if (k !== WORKSPACE_KEY && s.status === 'opted_out') {
          state.set(k, { senderAddress: k, status: 'opted_in', source: e.source, since: e.occurredAt });
        }
      }
    }
  }
  return state;
}

/** Whether a message from senderAddress (or from any sender, when absent) may not be sent. */
export function isSuppressed(state: Map<string, ScopeState>, senderAddress?: string): boolean {
  if (state.get(WORKSPACE_KEY)?.status === 'opted_out') return true;
  return senderAddress !== undefined && state.get(senderAddress)?.status === 'opted_out';
}

export function summarize(states: Iterable<ScopeState>): ConsentSummary {
  let ws: ScopeState | undefined;
  const senders: ConsentSummary['senders'] = [];
  for (const s of states) {
    if (s.senderAddress === WORKSPACE_KEY) ws = s;
    else
      senders.push({ sender_address: s.senderAddress, status: s.status, since: s.since, source: s.source });
  }
  senders.sort((a, b) => a.sender_address.localeCompare(b.sender_address));
  return { status: ws?.status ?? 'none', since: ws?.since ?? null, source: ws?.source ?? null, senders };
}
