// What the dispatcher writes to the message record, each a batched statement: the take (the fence
// before a message may leave: its row becomes `submitting` under its partition's epoch, a campaign
// message's row written for the first time), the carrier's answer (`submitted` with one part per
// carrier id), and the outcomes it decides itself (expired, rejected, suppressed, canceled, failed,
// and holds). Statuses move only as the state machine allows, enforced in the statements.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { intArray, textArray } from '../../infra/db/pg-array';
import type {
  AcceptedRow,
  AppliedChange,
  AppliedRow,
  StatusChange,
  SubmittedRow,
} from '../messages/message-record';
import { toApplied } from '../messages/message-record';
import { APPLIED_COLUMNS, TERMINAL, outcomeOf } from '../messages/message-status.repository';
import { ALLOWED_TRANSITIONS } from '../messages/status-machine';

/** A message a dispatcher takes: its row as it will be recorded, and the lease it is taken under. */
export interface TakeItem extends AcceptedRow {
  carrierId: string;
  connectorId: string;
  topic: string;
  partition: number;
  epoch: string;
}

/** A final status (or a hold) the dispatcher decides for a message it read, with its row. */
export interface DecidedRow {
  row: AcceptedRow;
  change: StatusChange;
  /** A hold writes this as an event too (why, and until when). */
  event?: Record<string, unknown>;
}

export interface StuckMessage {
  id: string;
  workspaceId: string;
  to: string;
  sender: string;
  carrierId: string | null;
  connectorId: string | null;
  submittingAt: Date;
}

@Injectable()
export class DispatchRecordRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * The fence: moves each message to `submitting` (writing its row if it has none: a campaign
   * message) when its row is still `accepted` or `queued` and its partition's lease still has the
   * epoch it was read under. Returns the ids taken now: only those may be handed to a connector.
   * A message missing from the answer is not this process's (past submit already, final, or its
   * partition went to another dispatcher, whose later take waits for this statement's share lock).
   */
  async take(groupId: string, items: readonly TakeItem[]): Promise<Set<string>> {
    if (!items.length) return new Set();
    // A campaign message has no row until its take; every other message (the API's, an
    // auto-reply) was stored when it was accepted, and its take only moves it.
    const fresh = items.filter((m) => m.campaignId);
    const stored = items.filter((m) => !m.campaignId);
    const [a, b] = await Promise.all([this.takeFresh(groupId, fresh), this.takeStored(groupId, stored)]);
    return new Set([...a, ...b]);
  }

  /** The leases the items were read under that are still current (share-locked until commit). */
  private leaseOf(groupId: string, items: readonly TakeItem[]) {
    return sql`lease as (
        select l.topic, l.partition
          from partition_leases l
          join (select distinct * from unnest(${textArray(items.map((m) => m.topic))}::text[],
                                              ${intArray(items.map((m) => m.partition))}::int[],
                                              ${textArray(items.map((m) => m.epoch))}::bigint[]) as e(topic, partition, epoch)) e
            on l.topic = e.topic and l.partition = e.partition and l.epoch = e.epoch
         where l.group_id = ${groupId}
         for share of l
      )`;
  }

  private async takeStored(groupId: string, items: readonly TakeItem[]): Promise<string[]> {
    if (!items.length) return [];
    const col = (f: (m: TakeItem) => string | null) => textArray(items.map(f));
    const r = await sql<{ id: string }>`
      with ${this.leaseOf(groupId, items)},
      x as (
        select * from unnest(${col((m) => m.id)}::uuid[], ${col((m) => m.topic)}::text[],
                             ${intArray(items.map((m) => m.partition))}::int[], ${col((m) => m.carrierId)}::text[],
                             ${col((m) => m.connectorId)}::text[])
          as x(id, topic, partition, carrier_id, connector_id)
      ),
      -- Rows locked in id order: two takes of overlapping messages never deadlock.
      locked as (
        select m.id from messages m
          join x on x.id = m.id
          join lease on lease.topic = x.topic and lease.partition = x.partition
         where m.status in ('accepted', 'queued')
         order by m.id
         for update of m
      )
      update messages m set
        status = 'submitting', submitting_at = now(), carrier_id = x.carrier_id,
        connector_id = x.connector_id, updated_at = now()
      from x
      where m.id = x.id and m.id in (select id from locked) and m.status in ('accepted', 'queued')
      returning m.id`.execute(this.db);
    return r.rows.map((x) => x.id);
  }

  private async takeFresh(groupId: string, items: readonly TakeItem[]): Promise<string[]> {
    if (!items.length) return [];
    const col = (f: (m: TakeItem) => string | null | undefined) => textArray(items.map(f));
    const r = await sql<{ id: string }>`
      with ${this.leaseOf(groupId, items)},
      x as (
        select * from unnest(
          ${col((m) => m.id)}::uuid[], ${col((m) => m.workspaceId)}::uuid[],
          ${col((m) => m.campaignId)}::uuid[], ${col((m) => m.type)}::text[],
          ${col((m) => m.to)}::text[], ${col((m) => m.sender)}::text[],
          ${col((m) => m.carrierId)}::text[], ${col((m) => m.connectorId)}::text[],
          ${col((m) => m.body)}::text[], ${col((m) => m.encoding)}::text[], ${intArray(items.map((m) => m.segments))}::int[],
          ${col((m) => JSON.stringify(m.metadata ?? {}))}::jsonb[], ${col((m) => m.statusCallback)}::text[],
          ${col((m) => m.validUntil?.toISOString())}::timestamptz[],
          ${col((m) => (m.acceptedAt ?? new Date()).toISOString())}::timestamptz[],
          ${col((m) => (m.autoReply ? 't' : 'f'))}::boolean[], ${col((m) => m.topic)}::text[],
          ${intArray(items.map((m) => m.partition))}::int[]
        ) as x(id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id, body, encoding,
               segments, metadata, status_callback, valid_until, accepted_at, auto_reply, topic, partition)
      )
      insert into messages as m (id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id,
        body, encoding, segments, metadata, status_callback, valid_until, accepted_at, auto_reply, status, submitting_at)
      select x.id, x.workspace_id, x.campaign_id, x.type, x.to_e164, x.sender, x.carrier_id, x.connector_id,
             x.body, x.encoding, x.segments, x.metadata, x.status_callback, x.valid_until, x.accepted_at, x.auto_reply,
             'submitting', now()
        from x join lease on lease.topic = x.topic and lease.partition = x.partition
       -- Rows locked in id order: two takes of overlapping messages never deadlock.
       order by x.id
      on conflict (id) do update set
        status = 'submitting', submitting_at = now(), carrier_id = excluded.carrier_id,
        connector_id = excluded.connector_id, updated_at = now()
        where m.status in ('accepted', 'queued')
      returning m.id`.execute(this.db);
    return r.rows.map((x) => x.id);
  }

  /**
   * Records what the carrier took: `submitted` (from `submitting` only) with one part per carrier
   * id, in one statement, so a message is never `submitted` without the parts its receipts are
   * matched by. Safe to repeat. Returns the changes of messages that have a status callback.
   */
  async markSubmitted(rows: readonly (SubmittedRow & { workspaceId: string })[]): Promise<AppliedChange[]> {
    if (!rows.length) return [];
    const parts: { id: string; ws: string; idx: number; cid: string; key: string; conn: string; at: Date }[] =
      [];
    for (const row of rows)
      row.carrierMessageIds.forEach((cid, i) =>
        parts.push({
          id: row.id,
          ws: row.workspaceId,
          idx: i,
          cid,
          key: row.receiptKeys[i] ?? cid,
          conn: row.connectorId,
          at: row.submittedAt,
        }),
      );
    const at = new Map(rows.map((r) => [r.id, r.submittedAt]));
    const p = <T>(f: (x: (typeof parts)[number]) => T) => parts.map(f);
    const res = await sql<AppliedRow>`
      with parts as (
        insert into message_parts (workspace_id, message_id, part_index, carrier_message_id, receipt_key,
                                   connector_id, status, submitted_at)
        select ws, id, idx, cid, rkey, conn, 'submitted', at
          from unnest(${p((x) => x.ws)}::uuid[], ${p((x) => x.id)}::uuid[], ${p((x) => x.idx)}::int[],
                      ${p((x) => x.cid)}::text[], ${p((x) => x.key)}::text[], ${p((x) => x.conn)}::text[],
                      ${p((x) => x.at)}::timestamptz[]) as p(ws, id, idx, cid, rkey, conn, at)
        on conflict do nothing
      ),
      u as (
        select * from unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.carrierId)}::text[],
                             ${rows.map((r) => r.connectorId)}::text[], ${rows.map((r) => r.submittedAt)}::timestamptz[])
          as u(id, carrier_id, connector_id, at)
      ),
      upd as (
        update messages m set
          status = 'submitted', carrier_id = u.carrier_id, connector_id = u.connector_id,
          submitted_at = u.at, submitting_at = null, updated_at = now()
        from u, messages old
        where m.id = u.id and old.id = m.id
          and (m.status || '>submitted') = any(${ALLOWED_TRANSITIONS}::text[])
        returning ${APPLIED_COLUMNS}
      )
      select * from upd where status_callback is not null`.execute(this.db);
    return res.rows.map((x) => toApplied(x, at.get(x.id)!));
  }

  /**
   * Statuses the dispatcher decides for messages it read (final ones, and `queued` for a hold),
   * writing the row of a campaign message that has none yet. Each takes effect only where the state
   * machine allows; a hold writes its reason as an event too. Returns what took effect.
   */
  async decide(items: readonly DecidedRow[]): Promise<AppliedChange[]> {
    if (!items.length) return [];
    // One change per message per statement (a batch never holds two for one message: the
    // dispatcher decides each message once per pass).
    const seen = new Set<string>();
    const batch = items.filter((i) => !seen.has(i.row.id) && seen.add(i.row.id));
    const at = new Map(batch.map((i) => [i.row.id, i.change.at]));
    const col = <T>(f: (i: DecidedRow) => T) => batch.map(f);
    const res = await sql<AppliedRow & { previous_status: string }>`
      with x as (
        select * from unnest(
          ${col((i) => i.row.id)}::uuid[], ${col((i) => i.row.workspaceId)}::uuid[],
          ${col((i) => i.row.campaignId ?? null)}::uuid[], ${col((i) => i.row.type)}::text[],
          ${col((i) => i.row.to)}::text[], ${col((i) => i.row.sender)}::text[],
          ${col((i) => i.row.carrierId ?? null)}::text[], ${col((i) => i.row.connectorId ?? null)}::text[],
          ${col((i) => i.row.body)}::text[], ${col((i) => i.row.encoding)}::text[], ${col((i) => i.row.segments)}::int[],
          ${col((i) => JSON.stringify(i.row.metadata ?? {}))}::jsonb[], ${col((i) => i.row.statusCallback ?? null)}::text[],
          ${col((i) => i.row.validUntil ?? null)}::timestamptz[], ${col((i) => i.row.acceptedAt ?? new Date())}::timestamptz[],
          ${col((i) => i.row.autoReply ?? false)}::boolean[],
          ${col((i) => i.change.status)}::text[], ${col((i) => i.change.errorCode ?? null)}::text[],
          ${col((i) => i.change.detail ?? null)}::text[], ${col((i) => i.change.at)}::timestamptz[],
          ${col((i) => outcomeOf(i.change))}::jsonb[], ${col((i) => (i.event ? JSON.stringify(i.event) : null))}::jsonb[]
        ) as x(id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id, body, encoding,
               segments, metadata, status_callback, valid_until, accepted_at, auto_reply,
               status, error_code, error_detail, at, outcome, event)
      ),
      cur as (select m.id, m.status from messages m join x on x.id = m.id),
      up as (
        insert into messages as m (id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id,
          body, encoding, segments, metadata, status_callback, valid_until, accepted_at, auto_reply,
          status, error_code, error_detail, queued_at, final_at, outcome)
        select id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id, body, encoding,
               segments, metadata, status_callback, valid_until, accepted_at, auto_reply,
               status, error_code, error_detail,
               case when status = 'queued' then at end,
               case when status = any(${TERMINAL}::text[]) then at end,
               case when status = any(${TERMINAL}::text[]) then outcome end
          from x
        on conflict (id) do update set
          status = excluded.status,
          error_code = coalesce(excluded.error_code, m.error_code),
          error_detail = coalesce(excluded.error_detail, m.error_detail),
          queued_at = coalesce(excluded.queued_at, m.queued_at),
          final_at = coalesce(excluded.final_at, m.final_at),
          outcome = coalesce(excluded.outcome, m.outcome),
          submitting_at = case when excluded.final_at is not null then null else m.submitting_at end,
          updated_at = now()
          where (m.status || '>' || excluded.status) = any(${ALLOWED_TRANSITIONS}::text[])
        returning m.id, m.workspace_id, m.campaign_id, m.status_callback, m.type, m.to_e164, m.sender,
          m.carrier_id, m.connector_id, m.segments, m.status, m.error_code, m.error_detail,
          (extract(epoch from m.accepted_at) * 1000)::float8 as accepted_ms,
          (extract(epoch from m.submitted_at) * 1000)::float8 as submitted_ms
      ),
      ev as (
        insert into message_events (workspace_id, message_id, status, at, detail)
        select x.workspace_id, x.id, x.status, x.at, x.event from x join up on up.id = x.id where x.event is not null
      )
      select up.*, coalesce(cur.status, 'accepted') as previous_status from up left join cur on cur.id = up.id`.execute(
      this.db,
    );
    return res.rows.map((x) => toApplied(x, at.get(x.id)!));
  }

  /** Messages fenced longer ago than `olderThan` with no answer stored (oldest first). */
  async stuckSubmitting(olderThan: Date, limit = 1_000): Promise<StuckMessage[]> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['id', 'workspace_id', 'to_e164', 'sender', 'carrier_id', 'connector_id', 'submitting_at'])
      .where('submitting_at', '<', olderThan)
      .where('status', '=', 'submitting')
      .orderBy('submitting_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      workspaceId: r.workspace_id,
      to: r.to_e164,
      sender: r.sender,
      carrierId: r.carrier_id,
      connectorId: r.connector_id,
      submittingAt: r.submitting_at as Date,
    }));
  }
}

/** Partition leases: an epoch per (group, topic, partition), taken by whoever is assigned it. */
@Injectable()
export class PartitionLeaseRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Takes the given partitions for `owner`: each one's epoch goes up by one (a partition never
   * seen starts at 1). Waits for any take still running under an older epoch (its share lock), so
   * from the moment this returns no earlier owner can fence a message of these partitions.
   */
  async acquire(
    groupId: string,
    owner: string,
    partitions: readonly { topic: string; partition: number }[],
  ): Promise<Map<string, string>> {
    if (!partitions.length) return new Map();
    const r = await sql<{ topic: string; partition: number; epoch: string }>`
      insert into partition_leases (group_id, topic, partition, epoch, owner, taken_at)
      select ${groupId}, t, p, 1, ${owner}, now()
        from unnest(${partitions.map((x) => x.topic)}::text[], ${partitions.map((x) => x.partition)}::int[]) as x(t, p)
      on conflict (group_id, topic, partition) do update
        set epoch = partition_leases.epoch + 1, owner = excluded.owner, taken_at = now()
      returning topic, partition, epoch::text as epoch`.execute(this.db);
    return new Map(r.rows.map((x) => [leaseKey(x.topic, x.partition), x.epoch]));
  }
}

export const leaseKey = (topic: string, partition: number) => `${topic}:${partition}`;
