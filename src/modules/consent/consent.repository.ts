// The consent ledger in Postgres: events are only ever inserted; consent_state is kept in the same
// transaction by the rules of consent-state.ts, so "is this batch suppressed?" is one indexed query.
import { Injectable } from '@nestjs/common';
import { Kysely, RawBuilder, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { textArray } from '../../infra/db/pg-array';
import { ConsentKind, ConsentScope, ScopeState, WORKSPACE_KEY } from './consent-state';

export interface ConsentEventRow {
  id: number;
  e164: string;
  kind: ConsentKind;
  scope: ConsentScope;
  sender_address: string;
  source: string;
  evidence: string | null;
  occurred_at: Date;
  recorded_at: Date;
}

export interface NewConsentEvent {
  workspaceId: string;
  e164: string;
  kind: ConsentKind;
  scope: ConsentScope;
  senderAddress: string;
  source: string;
  evidence: string | null;
  occurredAt: Date;
}

/** Bulk opt-ins (imports): a query yielding one row per number, already deduplicated. */
export type BulkOptIns = RawBuilder<{
  e164: string;
  source: string;
  evidence: string | null;
  occurred_at: Date;
}>;

const EVENT_COLUMNS = [
  'id',
  'e164',
  'kind',
  'scope',
  'sender_address',
  'source',
  'evidence',
  'occurred_at',
  'recorded_at',
] as const;

type Executor = Kysely<Database>;

@Injectable()
export class ConsentRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  transaction<T>(fn: (trx: Executor) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(fn);
  }

  /** Appends one event and applies it to the state; a repeat of the same event is a no-op. */
  async append(e: NewConsentEvent, trx: Executor = this.db): Promise<ConsentEventRow> {
    const inserted = await trx
      .insertInto('consent_events')
      .values({
        workspace_id: e.workspaceId,
        e164: e.e164,
        kind: e.kind,
        scope: e.scope,
        sender_address: e.senderAddress,
        source: e.source,
        evidence: e.evidence,
        occurred_at: e.occurredAt,
      })
      .onConflict((oc) => oc.doNothing())
      .returning(EVENT_COLUMNS)
      .executeTakeFirst();
    if (!inserted) {
      return trx
        .selectFrom('consent_events')
        .select(EVENT_COLUMNS)
        .where('workspace_id', '=', e.workspaceId)
        .where('e164', '=', e.e164)
        .where('kind', '=', e.kind)
        .where('scope', '=', e.scope)
        .where('sender_address', '=', e.senderAddress)
        .where('source', '=', e.source)
        .where('occurred_at', '=', e.occurredAt)
        .executeTakeFirstOrThrow();
    }
    const key = e.scope === 'workspace' ? WORKSPACE_KEY : e.senderAddress;
    const status = e.kind === 'opt_in' ? 'opted_in' : 'opted_out';
    // A sender opt-out older than a workspace opt-in arriving late was already cleared by it.
    const clearedByLaterOptIn =
      e.scope === 'sender' && e.kind === 'opt_out'
        ? sql<boolean>`exists (select 1 from consent_state s where s.workspace_id = ${e.workspaceId}
            and s.e164 = ${e.e164} and s.sender_address = ${WORKSPACE_KEY}
            and s.status = 'opted_in' and s.occurred_at > ${e.occurredAt})`
        : sql<boolean>`false`;
    await sql`
      insert into consent_state (workspace_id, e164, sender_address, status, source, occurred_at)
      select ${e.workspaceId}, ${e.e164}, ${key}, ${status}, ${e.source}, ${e.occurredAt}
      where not ${clearedByLaterOptIn}
      on conflict (workspace_id, e164, sender_address) do update
        set status = excluded.status, source = excluded.source,
            occurred_at = excluded.occurred_at, updated_at = now()
        where consent_state.occurred_at <= excluded.occurred_at`.execute(trx);
    if (e.kind === 'opt_in' && e.scope === 'workspace') {
      await trx
        .updateTable('consent_state')
        .set({ status: 'opted_in', source: e.source, occurred_at: e.occurredAt, updated_at: sql`now()` })
        .where('workspace_id', '=', e.workspaceId)
        .where('e164', '=', e.e164)
        .where('sender_address', '<>', WORKSPACE_KEY)
        .where('status', '=', 'opted_out')
        .where('occurred_at', '<=', e.occurredAt)
        .execute();
    }
    return inserted;
  }

  /**
   * Many opt-outs in one statement (a reply batch's STOPs), by the same rules as append: a repeat of
   * an event is a no-op, the latest event of a (number, scope key) wins, and a sender opt-out older
   * than the number's workspace opt-in stays cleared. Returns how many events were new.
   */
  async appendOptOuts(events: readonly NewConsentEvent[], trx: Executor = this.db): Promise<number> {
    if (!events.length) return 0;
    if (events.some((e) => e.kind !== 'opt_out')) throw new Error('appendOptOuts: only opt_out events');
    const col = (f: (e: NewConsentEvent) => string | null) => textArray(events.map(f));
    const r = await sql<{ n: number }>`
      with v as (
        select * from unnest(${col((e) => e.workspaceId)}::uuid[], ${col((e) => e.e164)}::text[],
                             ${col((e) => e.scope)}::text[], ${col((e) => e.senderAddress)}::text[],
                             ${col((e) => e.source)}::text[], ${col((e) => e.evidence)}::text[],
                             ${col((e) => e.occurredAt.toISOString())}::timestamptz[])
          as v(workspace_id, e164, scope, sender_address, source, evidence, occurred_at)
      ), ins as (
        insert into consent_events (workspace_id, e164, kind, scope, sender_address, source, evidence, occurred_at)
        select workspace_id, e164, 'opt_out', scope, sender_address, source, evidence, occurred_at from v
        on conflict do nothing
        returning workspace_id, e164, scope, sender_address, source, occurred_at
      ), st as (
        -- One row per state key (an upsert may not touch a row twice): the batch's latest event.
        insert into consent_state (workspace_id, e164, sender_address, status, source, occurred_at)
        select distinct on (workspace_id, e164, sender_address)
               workspace_id, e164, sender_address, 'opted_out', source, occurred_at
          from ins
         where not (scope = 'sender' and exists (
                 select 1 from consent_state s where s.workspace_id = ins.workspace_id
                    and s.e164 = ins.e164 and s.sender_address = ${WORKSPACE_KEY}
                    and s.status = 'opted_in' and s.occurred_at > ins.occurred_at))
         order by workspace_id, e164, sender_address, occurred_at desc
        on conflict (workspace_id, e164, sender_address) do update
          set status = excluded.status, source = excluded.source,
              occurred_at = excluded.occurred_at, updated_at = now()
          where consent_state.occurred_at <= excluded.occurred_at
        returning 1
      )
      select (select count(*) from ins)::int as n`.execute(trx);
    return r.rows[0]?.n ?? 0;
  }

  /** Workspace-scoped opt-ins of many numbers at once (import rows carrying consent). */
  async appendOptIns(workspaceId: string, rows: BulkOptIns, trx: Executor = this.db): Promise<void> {
    // Only events that are new (not a retried chunk or a re-imported file) move the state.
    await sql`
      with v as (${rows}
      ), ins as (
        insert into consent_events (workspace_id, e164, kind, scope, sender_address, source, evidence, occurred_at)
        select ${workspaceId}, e164, 'opt_in', 'workspace', '', source, evidence, occurred_at from v
        on conflict do nothing
        returning e164, source, occurred_at
      ), st as (
        insert into consent_state (workspace_id, e164, sender_address, status, source, occurred_at)
        select ${workspaceId}, e164, '', 'opted_in', source, occurred_at from ins
        on conflict (workspace_id, e164, sender_address) do update
          set status = excluded.status, source = excluded.source,
              occurred_at = excluded.occurred_at, updated_at = now()
          where consent_state.occurred_at <= excluded.occurred_at
        returning e164
      )
      update consent_state s set status = 'opted_in', source = ins.source,
             occurred_at = ins.occurred_at, updated_at = now()
        from ins
       where s.workspace_id = ${workspaceId} and s.e164 = ins.e164 and s.sender_address <> ''
         and s.status = 'opted_out' and s.occurred_at <= ins.occurred_at`.execute(trx);
  }

  /** The numbers among `numbers` that may not receive from senderAddress (any sender if absent). */
  async suppressedAmong(workspaceId: string, numbers: string[], senderAddress?: string): Promise<string[]> {
    if (!numbers.length) return [];
    const keys = senderAddress ? [WORKSPACE_KEY, senderAddress] : [WORKSPACE_KEY];
    const r = await this.db
      .selectFrom('consent_state')
      .select('e164')
      .distinct()
      .where('workspace_id', '=', workspaceId)
      .where('e164', '=', sql<string>`any(${numbers}::text[])`)
      .where('sender_address', '=', sql<string>`any(${keys}::text[])`)
      .where('status', '=', 'opted_out')
      .execute();
    return r.map((x) => x.e164);
  }

  async states(workspaceId: string, e164: string): Promise<ScopeState[]> {
    const r = await this.db
      .selectFrom('consent_state')
      .select(['sender_address', 'status', 'source', 'occurred_at'])
      .where('workspace_id', '=', workspaceId)
      .where('e164', '=', e164)
      .execute();
    return r.map((x) => ({
      senderAddress: x.sender_address,
      status: x.status,
      source: x.source,
      since: x.occurred_at,
    }));
  }

  events(
    workspaceId: string,
    opts: { e164?: string; kind?: ConsentKind; limit?: number; beforeId?: number },
  ): Promise<ConsentEventRow[]> {
    let q = this.db
      .selectFrom('consent_events')
      .select(EVENT_COLUMNS)
      .where('workspace_id', '=', workspaceId);
    if (opts.e164) q = q.where('e164', '=', opts.e164);
    if (opts.kind) q = q.where('kind', '=', opts.kind);
    if (opts.beforeId) q = q.where('id', '<', opts.beforeId);
    if (opts.e164 && !opts.limit) return q.orderBy('occurred_at').orderBy('id').execute();
    return q
      .orderBy('id', 'desc')
      .limit(opts.limit ?? 100)
      .execute();
  }
}
