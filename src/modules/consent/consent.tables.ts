import type { Generated } from 'kysely';

export type ConsentKind = 'opt_in' | 'opt_out';
export type ConsentScope = 'workspace' | 'sender';

export interface ConsentEventsTable {
  id: Generated<number>;
  workspace_id: string;
  e164: string;
  kind: ConsentKind;
  scope: ConsentScope;
  /** '' for the workspace scope. */
  sender_address: Generated<string>;
  source: string;
  evidence: string | null;
  occurred_at: Date;
  recorded_at: Generated<Date>;
}

export interface ConsentStateTable {
  workspace_id: string;
  e164: string;
  /** '' is the workspace-wide state; otherwise the state towards one sender. */
  sender_address: string;
  status: 'opted_in' | 'opted_out';
  source: string;
  occurred_at: Date;
  updated_at: Generated<Date>;
}

export interface ConsentTables {
  consent_events: ConsentEventsTable;
  consent_state: ConsentStateTable;
}
