// Status changes of existing message rows, batched: one UPDATE per round (a round holds each message
// once), the state machine enforced in SQL so racing writers never move a message backwards. The
// history is the row's timestamps (queued_at, sent_at, final_at) and, for a final status, what
// decided it (`outcome`); no event row is written. Used by the dispatcher (outcomes of messages it
// holds) and by the receipts consumer inside its own transaction (parts adding up to a status).
import { Injectable } from '@nestjs/common';
import { Transaction, sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { Database } from '../../infra/db/database';
import { AppliedChange, AppliedRow, StatusChange, roundsByKey, toApplied } from './message-record';
import { TERMINAL_STATUSES } from './message.types';
import { ALLOWED_TRANSITIONS } from './status-machine';

export type Executor = Db | Transaction<Database>;

/** The columns every status statement returns for a change that took effect (see AppliedRow). */
export const APPLIED_COLUMNS = sql`m.id, m.workspace_id, m.campaign_id, m.status_callback, m.type, m.to_e164, m.sender,
  m.carrier_id, m.connector_id, m.segments, m.status, old.status as previous_status, m.error_code, m.error_detail,
  (extract(epoch from m.accepted_at) * 1000)::float8 as accepted_ms,
  (extract(epoch from m.submitted_at) * 1000)::float8 as submitted_ms`;

/** What decided a change, as the row's `outcome` (and the API's event detail) shows it. */
export function outcomeOf(c: StatusChange): string {
  return JSON.stringify({
    ...(c.event ?? {}),
    ...(c.errorCode ? { error_code: c.errorCode } : {}),
    ...(c.detail ? { detail: c.detail } : {}),
  });
}

export const TERMINAL = TERMINAL_STATUSES as readonly string[];

@Injectable()
export class MessageStatusRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Applies changes where the state machine allows them (never backwards, a final status stays),
   * in the order given per message. Without `enforce` the caller has locked the rows and checked
   * the rule itself (only a change of status is then required). Returns what took effect.
   */
  async apply(
    changes: readonly StatusChange[],
    opts: { executor?: Executor; enforce?: boolean } = {},
  ): Promise<AppliedChange[]> {
    const db = opts.executor ?? this.db;
    const guard =
      opts.enforce === false
        ? sql`m.status <> u.status`
        : sql`(m.status || '>' || u.status) = any(${ALLOWED_TRANSITIONS}::text[])`;
    const out: AppliedChange[] = [];
    for (const round of roundsByKey(changes, (c) => c.id)) {
      const at = new Map(round.map((c) => [c.id, c.at]));
      const res = await sql<AppliedRow>`
        with u as (
          select * from unnest(
            ${round.map((c) => c.id)}::uuid[], ${round.map((c) => c.status)}::text[],
            ${round.map((c) => c.errorCode ?? null)}::text[], ${round.map((c) => c.detail ?? null)}::text[],
            ${round.map((c) => c.at)}::timestamptz[], ${round.map(outcomeOf)}::jsonb[]
          ) as u(id, status, error_code, error_detail, at, outcome)
        )
        update messages m set
          status = u.status,
          -- An unknown message a receipt resolves takes the receipt's outcome whole; what it was
          -- before stays in its outcome as \`was_unknown\`.
          error_code = case when m.status = 'unknown' then u.error_code else coalesce(u.error_code, m.error_code) end,
          error_detail = case when m.status = 'unknown' then u.error_detail else coalesce(u.error_detail, m.error_detail) end,
          queued_at = case when u.status = 'queued' then u.at else m.queued_at end,
          sent_at = case when u.status = 'sent' then coalesce(m.sent_at, u.at) else m.sent_at end,
          final_at = case when u.status = any(${TERMINAL}::text[]) then u.at else m.final_at end,
          outcome = case when u.status <> all(${TERMINAL}::text[]) then m.outcome
                         when m.status = 'unknown'
                         then u.outcome || jsonb_build_object('was_unknown', jsonb_build_object('at', m.final_at, 'outcome', m.outcome))
                         else u.outcome end,
          -- Kept on an unknown message: the time a late receipt is tied to it by (orphan-match.ts).
          submitting_at = case when u.status = any(${TERMINAL}::text[]) and u.status <> 'unknown'
                               then null else m.submitting_at end,
          updated_at = now()
        from u, messages old
        where m.id = u.id and old.id = m.id and ${guard}
        returning ${APPLIED_COLUMNS}`.execute(db);
      for (const x of res.rows) out.push(toApplied(x, at.get(x.id)!));
    }
    return out;
  }
}
