// The message store every part of Parley writes through: the API and the campaign expander insert,
// the dispatcher claims and marks submitted, the receipts consumer applies carrier outcomes, the
// router looks up what a reply answers. Status changes are batched (one statement per batch, events
// written in the same statement) and the state machine is enforced in SQL, so racing consumers can
// never move a message backwards.
import { Injectable } from '@nestjs/common';
import { Selectable, Transaction, sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { Database } from '../../infra/db/database';
import type { Encoding } from '../carriers/connector';
import { MessageStatus, MessageType, TERMINAL_STATUSES } from './message.types';
import {
  ALLOWED_TRANSITIONS,
  DEFAULT_MULTIPART_RULE,
  MultipartRule,
  aggregateParts,
  canReaggregate,
  canTransition,
} from './status-machine';

/** A message as the API or the campaign expander accepted it. */
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
  /** Human-readable reason; kept as the message's error_detail and on the event. */
  detail?: string | null;
  /** Extra facts for the status event (a raw receipt, a retry count). */
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

/** One part of one message: what a receipt, once matched, changes. */
export interface PartRef {
  messageId: string;
  partIndex: number;
}

/** What a receipt is looked up by: its connector and the id in that connector's key form. */
export interface ReceiptKeyRef {
  connectorId: string;
  receiptKey: string;
}

export interface PartStatusChange extends PartRef {
  status: MessageStatus;
  errorCode?: string | null;
  detail?: string | null;
  event?: Record<string, unknown>;
  at: Date;
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

/** A part found by its receipt key, with the message facts a receipt handler needs. */
export interface FoundPart extends MessagePart {
  receiptKey: string;
  messageStatus: MessageStatus;
  carrierId: string | null;
  to: string;
  sender: string;
  type: MessageType;
  parts: number;
}

export interface PartStatusesResult {
  /** Parts whose status changed. */
  parts: (MessagePart & { previousStatus: MessageStatus })[];
  /** Message statuses that changed as the parts add up. */
  messages: AppliedChange[];
  /** Changes the state machine refused: their part was already final (another receipt won). */
  refused: PartRef[];
}

export interface MessageEvent {
  status: string;
  at: Date;
  detail: Record<string, unknown>;
}

export interface MessageRecord {
  id: string;
  workspaceId: string;
  campaignId: string | null;
  type: MessageType;
  to: string;
  sender: string;
  carrierId: string | null;
  connectorId: string | null;
  body: string;
  encoding: Encoding;
  segments: number;
  status: MessageStatus;
  errorCode: string | null;
  errorDetail: string | null;
  metadata: Record<string, unknown>;
  statusCallback: string | null;
  validUntil: Date | null;
  acceptedAt: Date;
  queuedAt: Date | null;
  submittedAt: Date | null;
  finalAt: Date | null;
  updatedAt: Date;
  autoReply: boolean;
}

export interface MessageDetail extends MessageRecord {
  parts: MessagePart[];
  events: MessageEvent[];
  /** Receipts that named this message and changed nothing (late, repeated, unmappable). */
  receiptsNotApplied: { reason: string; stat: string | null; raw: string; receivedAt: Date }[];
}

export interface OutboundMatch {
  id: string;
  workspaceId: string;
  campaignId: string | null;
  type: MessageType;
  sender: string;
  body: string;
  status: MessageStatus;
  metadata: Record<string, unknown>;
  acceptedAt: Date;
  autoReply: boolean;
}

export interface StuckMessage {
  id: string;
  workspaceId: string;
  to: string;
  sender: string;
  carrierId: string | null;
  connectorId: string | null;
  claimedAt: Date;
}

export interface CampaignStatusCount {
  status: MessageStatus;
  messages: number;
  segments: number;
}

// Bounds one statement's arrays (and so its memory and lock time) for very large campaign batches.
const INSERT_CHUNK = 5_000;

// Messages that reached (or may have reached) the customer: the ones a reply can answer.
const REACHED_STATUSES: MessageStatus[] = ['submitting', 'submitted', 'sent', 'delivered', 'undelivered'];
const MAYBE_REACHED_STATUSES: MessageStatus[] = ['failed', 'expired', 'rejected', 'canceled'];

type MessageRow = Selectable<Database['messages']>;

function toRecord(r: MessageRow): MessageRecord {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    campaignId: r.campaign_id,
    type: r.type,
    to: r.to_e164,
    sender: r.sender,
    carrierId: r.carrier_id,
    connectorId: r.connector_id,
    body: r.body,
    encoding: r.encoding as Encoding,
    segments: r.segments,
    status: r.status as MessageStatus,
    errorCode: r.error_code,
    errorDetail: r.error_detail,
    metadata: r.metadata ?? {},
    statusCallback: r.status_callback,
    validUntil: r.valid_until,
    acceptedAt: r.accepted_at,
    queuedAt: r.queued_at,
    submittedAt: r.submitted_at,
    finalAt: r.final_at,
    updatedAt: r.updated_at,
    autoReply: r.auto_reply,
  };
}

interface AppliedRow {
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
  at: Date;
  accepted_at: Date;
  submitted_at: Date | null;
}

function toApplied(r: AppliedRow): AppliedChange {
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
    at: r.at,
    acceptedAt: r.accepted_at,
    submittedAt: r.submitted_at,
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

type Executor = Db | Transaction<Database>;

@Injectable()
export class MessageRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Inserts accepted messages (ids given by the caller; an id already stored is skipped, so a
   * re-expanded campaign or a retried batch inserts nothing twice) and their `accepted` events.
   * Returns the ids inserted now.
   */
  async insertAccepted(rows: readonly AcceptedRow[]): Promise<string[]> {
    const inserted: string[] = [];
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const now = new Date();
      const col = <T>(f: (m: AcceptedRow) => T) => chunk.map(f);
      // One array per column (unnest) rather than one parameter per value: a 1,000-row batch is
      // 17 parameters, not 17,000, which is most of the cost of accepting a batch.
      const r = await sql<{ id: string }>`
        with ins as (
          insert into messages (id, workspace_id, campaign_id, type, to_e164, sender, carrier_id, connector_id,
            body, encoding, segments, metadata, status_callback, valid_until, accepted_at, auto_reply)
          select * from unnest(
            ${col((m) => m.id)}::uuid[], ${col((m) => m.workspaceId)}::uuid[],
            ${col((m) => m.campaignId ?? null)}::uuid[], ${col((m) => m.type)}::text[],
            ${col((m) => m.to)}::text[], ${col((m) => m.sender)}::text[],
            ${col((m) => m.carrierId ?? null)}::text[], ${col((m) => m.connectorId ?? null)}::text[],
            ${col((m) => m.body)}::text[], ${col((m) => m.encoding)}::text[], ${col((m) => m.segments)}::int[],
            ${col((m) => JSON.stringify(m.metadata ?? {}))}::jsonb[], ${col((m) => m.statusCallback ?? null)}::text[],
            ${col((m) => m.validUntil ?? null)}::timestamptz[], ${col((m) => m.acceptedAt ?? now)}::timestamptz[],
            ${col((m) => m.autoReply ?? false)}::boolean[]
          )
          on conflict (id) do nothing
          returning id, workspace_id, accepted_at
        ),
        ev as (
          insert into message_events (workspace_id, message_id, status, at)
          select workspace_id, id, 'accepted', accepted_at from ins
        )
        select id from ins`.execute(this.db);
      for (const x of r.rows) inserted.push(x.id);
    }
    return inserted;
  }

  /**
   * The at-most-once guard: moves accepted or queued messages to `submitting` in one statement and
   * returns the ids this caller won. Only those may be handed to a connector; an id another
   * dispatcher claimed (or one already past submit) is not returned.
   */
  async claimForSubmit(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const r = await this.db
      .updateTable('messages')
      .set({ status: 'submitting', updated_at: sql`now()` })
      .where('id', '=', sql<string>`any(${[...ids]}::uuid[])`)
      .where('status', 'in', ['accepted', 'queued'])
      .returning('id')
      .execute();
    return new Set(r.map((x) => x.id));
  }

  /**
   * The dispatcher's claim, in units (migrations/20261127T0300-submit-fences.ts): moves accepted or
   * queued messages to `submitting` under the unit given for each, and takes over a message still
   * `submitting` under an earlier claim when that claim is older than `takeoverAfterMs` and its
   * unit was never started (its claimer died, or lost the partition, before anything left): the old
   * unit is fenced as released first, so its claimer can no longer start it. For every id not
   * claimed, `waitMs` says when a takeover may be tried (a claim not yet old enough whose unit is
   * not started); ids absent from both are not the caller's (started elsewhere, past submit, final).
   */
  async claimInUnits(
    items: readonly { id: string; unit: string }[],
    takeoverAfterMs: number,
  ): Promise<{ claimed: Set<string>; waitMs: Map<string, number> }> {
    const claimed = new Set<string>();
    const waitMs = new Map<string, number>();
    if (items.length === 0) return { claimed, waitMs };
    const r = await sql<{ id: string; claimed: boolean; wait_ms: number | null }>`
      with x as (
        select * from unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.unit)}::uuid[]) as x(id, unit)
      ),
      cur as (
        select m.id, m.status, m.claim_unit,
               extract(epoch from (now() - m.updated_at)) * 1000 as age_ms,
               f.released
        from messages m
        join x on x.id = m.id
        left join submit_fences f on f.unit = m.claim_unit
      ),
      freed as (
        insert into submit_fences (unit, released)
        select distinct claim_unit, true from cur
        where status = 'submitting' and claim_unit is not null and released is null and age_ms >= ${takeoverAfterMs}
        on conflict (unit) do nothing
        returning unit
      ),
      won as (
        update messages m
        set status = 'submitting', claim_unit = x.unit, updated_at = now()
        from x, cur
        where m.id = x.id and cur.id = x.id
          and (
            m.status in ('accepted', 'queued')
            or (
              m.status = 'submitting' and m.claim_unit = cur.claim_unit
              and (cur.released or m.claim_unit in (select unit from freed))
            )
          )
        returning m.id
      )
      select cur.id, won.id is not null as claimed,
             case when cur.status = 'submitting' and cur.claim_unit is not null and cur.released is null
                  then greatest(0, ${takeoverAfterMs} - cur.age_ms) end as wait_ms
      from cur left join won on won.id = cur.id`.execute(this.db);
    for (const row of r.rows) {
      if (row.claimed) claimed.add(row.id);
      else if (row.wait_ms !== null) waitMs.set(row.id, Math.ceil(Number(row.wait_ms)));
    }
    return { claimed, waitMs };
  }

  /**
   * Fences claim units as started right before their first message is handed to a connector.
   * Returns the units the caller may send from: started now or by an earlier call (a unit is only
   * ever started by its claimer); a unit missing from the answer was released to a takeover, and
   * its messages must not leave from this claim.
   */
  async startUnits(units: readonly string[]): Promise<Set<string>> {
    if (units.length === 0) return new Set();
    const r = await sql<{ unit: string }>`
      with ins as (
        insert into submit_fences (unit, released)
        select u, false from unnest(${[...units]}::uuid[]) as u
        on conflict (unit) do nothing
        returning unit
      )
      select unit from ins
      union all
      select unit from submit_fences where unit = any(${[...units]}::uuid[]) and not released`.execute(
      this.db,
    );
    return new Set(r.rows.map((x) => x.unit));
  }

  /** Drops fences older than `olderThan` (their claims ended long ago). Returns how many. */
  async pruneFences(olderThan: Date): Promise<number> {
    const r = await this.db.deleteFrom('submit_fences').where('at', '<', olderThan).executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }

  /**
   * Records what the carrier took: the message becomes `submitted` (from `submitting` only) and
   * each carrier id becomes a part, so receipts can find the message. Parts are stored even if the
   * message meanwhile ended (a receipt may still come). Safe to repeat.
   */
  async markSubmitted(rows: readonly SubmittedRow[]): Promise<AppliedChange[]> {
    if (rows.length === 0) return [];
    const partIds: string[] = [];
    const partIdx: number[] = [];
    const partCarrierIds: string[] = [];
    const partKeys: string[] = [];
    const partConnectors: string[] = [];
    const partAts: Date[] = [];
    for (const row of rows) {
      row.carrierMessageIds.forEach((cid, i) => {
        partIds.push(row.id);
        partIdx.push(i);
        partCarrierIds.push(cid);
        partKeys.push(row.receiptKeys[i] ?? cid);
        partConnectors.push(row.connectorId);
        partAts.push(row.submittedAt);
      });
    }
    // One transaction, parts first: a crash can never leave a message `submitted` without the
    // parts its receipts are matched by (it would never reach a terminal status).
    return this.db.transaction().execute(async (trx) => {
      await sql`
      insert into message_parts (workspace_id, message_id, part_index, carrier_message_id, receipt_key, connector_id, status, submitted_at)
      select m.workspace_id, p.id, p.idx, p.cid, p.rkey, p.conn, 'submitted', p.at
      from unnest(${partIds}::uuid[], ${partIdx}::int[], ${partCarrierIds}::text[], ${partKeys}::text[],
                  ${partConnectors}::text[], ${partAts}::timestamptz[]) as p(id, idx, cid, rkey, conn, at)
      join messages m on m.id = p.id
      on conflict do nothing`.execute(trx);
      const out: AppliedChange[] = [];
      for (const round of roundsByKey(rows, (r) => r.id)) {
        const events = round.map((r) =>
          JSON.stringify({
            connector: r.connectorId,
            carrier: r.carrierId,
            carrier_message_ids: r.carrierMessageIds,
          }),
        );
        const res = await sql<AppliedRow>`
        with u as (
          select * from unnest(
            ${round.map((r) => r.id)}::uuid[], ${round.map((r) => r.carrierId)}::text[],
            ${round.map((r) => r.connectorId)}::text[], ${round.map((r) => r.submittedAt)}::timestamptz[],
            ${events}::jsonb[]
          ) as u(id, carrier_id, connector_id, at, event)
        ),
        upd as (
          update messages m set
            status = 'submitted', carrier_id = u.carrier_id, connector_id = u.connector_id,
            submitted_at = u.at, updated_at = now()
          from u, messages old
          where m.id = u.id and old.id = m.id
            and (m.status || '>submitted') = any(${ALLOWED_TRANSITIONS}::text[])
          returning m.id, m.workspace_id, m.campaign_id, m.status_callback, m.type, m.to_e164, m.sender,
            m.carrier_id, m.connector_id, m.segments, m.status, old.status as previous_status,
            m.error_code, m.error_detail, u.at, m.accepted_at, m.submitted_at, u.event
        ),
        ev as (
          insert into message_events (workspace_id, message_id, status, at, detail)
          select workspace_id, id, status, at, event from upd
        )
        select * from upd`.execute(trx);
        for (const x of res.rows) out.push(toApplied(x));
      }
      return out;
    });
  }

  /**
   * Gives claimed messages back (submitting → queued) before any submit was attempted: only the
   * claim holder calls it, e.g. when the message's campaign was paused while it waited for tokens.
   * Outside the state machine on purpose: `submitting` otherwise only moves forward.
   */
  async releaseClaims(ids: readonly string[]): Promise<number> {
    if (!ids.length) return 0;
    const r = await this.db
      .updateTable('messages')
      .set({ status: 'queued', updated_at: new Date() })
      .where('id', 'in', [...ids])
      .where('status', '=', 'submitting')
      .executeTakeFirst();
    return Number(r.numUpdatedRows ?? 0);
  }

  /**
   * Applies status changes in batches: each takes effect only where the state machine allows it
   * (never backwards, terminal stays), with its event written in the same statement. Returns the
   * changes that took effect, in the order they were applied.
   */
  applyStatuses(changes: readonly StatusChange[]): Promise<AppliedChange[]> {
    return this.applyChanges(this.db, changes, true);
  }

  private async applyChanges(
    db: Executor,
    changes: readonly StatusChange[],
    enforce: boolean,
  ): Promise<AppliedChange[]> {
    const out: AppliedChange[] = [];
    for (const round of roundsByKey(changes, (c) => c.id)) {
      const events = round.map((c) =>
        JSON.stringify({
          ...(c.event ?? {}),
          ...(c.errorCode ? { error_code: c.errorCode } : {}),
          ...(c.detail ? { detail: c.detail } : {}),
        }),
      );
      // Without `enforce` the caller has locked the rows and checked the rule itself.
      const guard = enforce
        ? sql`(m.status || '>' || u.status) = any(${ALLOWED_TRANSITIONS}::text[])`
        : sql`m.status <> u.status`;
      const res = await sql<AppliedRow>`
        with u as (
          select * from unnest(
            ${round.map((c) => c.id)}::uuid[], ${round.map((c) => c.status)}::text[],
            ${round.map((c) => c.errorCode ?? null)}::text[], ${round.map((c) => c.detail ?? null)}::text[],
            ${round.map((c) => c.at)}::timestamptz[], ${events}::jsonb[]
          ) as u(id, status, error_code, error_detail, at, event)
        ),
        upd as (
          update messages m set
            status = u.status,
            error_code = coalesce(u.error_code, m.error_code),
            error_detail = coalesce(u.error_detail, m.error_detail),
            queued_at = case when u.status = 'queued' then u.at else m.queued_at end,
            submitted_at = case when u.status = 'submitted' then coalesce(m.submitted_at, u.at) else m.submitted_at end,
            final_at = case when u.status = any(${TERMINAL_STATUSES as readonly string[]}::text[]) then u.at else m.final_at end,
            updated_at = now()
          from u, messages old
          where m.id = u.id and old.id = m.id and ${guard}
          returning m.id, m.workspace_id, m.campaign_id, m.status_callback, m.type, m.to_e164, m.sender,
            m.carrier_id, m.connector_id, m.segments, m.status, old.status as previous_status,
            m.error_code, m.error_detail, u.at, m.accepted_at, m.submitted_at, u.event
        ),
        ev as (
          insert into message_events (workspace_id, message_id, status, at, detail)
          select workspace_id, id, status, at, event from upd
        )
        select * from upd`.execute(db);
      for (const x of res.rows) out.push(toApplied(x));
    }
    return out;
  }

  /**
   * Parts by receipt key (one statement for every connector of a batch), open ones only unless
   * `open` is false (then final ones only: what a late receipt would have been for), newest first.
   */
  async findPartsByReceiptKeys(keys: readonly ReceiptKeyRef[], open = true): Promise<FoundPart[]> {
    if (keys.length === 0) return [];
    const openStatuses = ['submitted', 'sent'];
    const r = await sql<{
      message_id: string;
      workspace_id: string;
      part_index: number;
      carrier_message_id: string;
      receipt_key: string;
      connector_id: string;
      status: MessageStatus;
      error_code: string | null;
      submitted_at: Date;
      done_at: Date | null;
      message_status: MessageStatus;
      carrier_id: string | null;
      to_e164: string;
      sender: string;
      type: MessageType;
      parts: number;
    }>`
      select p.message_id, p.workspace_id, p.part_index, p.carrier_message_id, p.receipt_key, p.connector_id,
             p.status, p.error_code, p.submitted_at, p.done_at, m.status as message_status, m.carrier_id,
             m.to_e164, m.sender, m.type,
             (select count(*) from message_parts q where q.message_id = p.message_id)::int as parts
      from (select distinct * from unnest(${keys.map((k) => k.connectorId)}::text[], ${keys.map((k) => k.receiptKey)}::text[])
              as k(connector_id, receipt_key)) k
      join message_parts p on p.connector_id = k.connector_id and p.receipt_key = k.receipt_key
      join messages m on m.id = p.message_id
      where ${open ? sql`p.status = any(${openStatuses}::text[])` : sql`not (p.status = any(${openStatuses}::text[]))`}
      order by p.submitted_at desc, p.message_id, p.part_index`.execute(this.db);
    return r.rows.map((x) => ({
      messageId: x.message_id,
      workspaceId: x.workspace_id,
      partIndex: x.part_index,
      carrierMessageId: x.carrier_message_id,
      receiptKey: x.receipt_key,
      connectorId: x.connector_id,
      status: x.status,
      errorCode: x.error_code,
      submittedAt: x.submitted_at,
      doneAt: x.done_at,
      messageStatus: x.message_status,
      carrierId: x.carrier_id,
      to: x.to_e164,
      sender: x.sender,
      type: x.type,
      parts: Number(x.parts ?? 0),
    }));
  }

  /**
   * Applies carrier outcomes to parts (state machine per part), then gives each touched message
   * the status its parts add up to under `rule`. The messages are locked (in id order) before their
   * parts are read, so receipts for two parts of one message racing in two consumers still add up.
   * Three statements per batch whatever its size (lock, parts, messages), plus a statement per
   * extra round when one part has two receipts in the batch.
   */
  async applyPartStatuses(
    changes: readonly PartStatusChange[],
    opts: { rule?: MultipartRule } = {},
  ): Promise<PartStatusesResult> {
    const rule = opts.rule ?? DEFAULT_MULTIPART_RULE;
    if (changes.length === 0) return { parts: [], messages: [], refused: [] };
    const key = (c: PartRef) => `${c.messageId}#${c.partIndex}`;
    const refOf = (c: PartRef): PartRef => ({ messageId: c.messageId, partIndex: c.partIndex });
    return this.db.transaction().execute(async (trx) => {
      // Locks the touched messages in id order, so two consumers never deadlock; a locked message's
      // status is re-read after any wait, so `current` is what this transaction may change.
      const ids = [...new Set(changes.map((c) => c.messageId))].sort();
      const known = await sql<{ message_id: string; message_status: MessageStatus }>`
        select id as message_id, status as message_status from messages
        where id = any(${ids}::uuid[]) order by id for update`.execute(trx);
      if (known.rows.length === 0) return { parts: [], messages: [], refused: changes.map(refOf) };
      const current = new Map(known.rows.map((r) => [r.message_id, r.message_status]));
      const messageIds = [...current.keys()];

      const applicable = changes.filter((c) => current.has(c.messageId));
      const refused = changes.filter((c) => !current.has(c.messageId)).map(refOf);
      const parts: PartStatusesResult['parts'] = [];
      // Every part of the touched messages as it will be after this batch: read in the statement
      // of the first update (which cannot see its own changes), then overlaid with each update.
      const byMessage = new Map<string, { status: MessageStatus; error_code: string | null }[]>();
      let round = 0;
      for (const changesOfRound of roundsByKey(applicable, key)) {
        const res = await sql<{
          kind: 'updated' | 'before';
          message_id: string;
          workspace_id: string;
          part_index: number;
          carrier_message_id: string;
          connector_id: string;
          status: MessageStatus;
          previous_status: MessageStatus | null;
          error_code: string | null;
          submitted_at: Date | null;
          done_at: Date | null;
        }>`
          with u as (
            select * from unnest(
              ${changesOfRound.map((c) => c.messageId)}::uuid[], ${changesOfRound.map((c) => c.partIndex)}::int[],
              ${changesOfRound.map((c) => c.status)}::text[], ${changesOfRound.map((c) => c.errorCode ?? null)}::text[],
              ${changesOfRound.map((c) => c.at)}::timestamptz[]
            ) as u(message_id, part_index, status, error_code, at)
          ),
          upd as (
            update message_parts p set
              status = u.status,
              error_code = coalesce(u.error_code, p.error_code),
              done_at = case when u.status = any(${TERMINAL_STATUSES as readonly string[]}::text[]) then u.at else p.done_at end,
              updated_at = now()
            from u, message_parts old
            where p.message_id = u.message_id and p.part_index = u.part_index
              and old.message_id = p.message_id and old.part_index = p.part_index
              and (p.status || '>' || u.status) = any(${ALLOWED_TRANSITIONS}::text[])
            returning p.message_id, p.workspace_id, p.part_index, p.carrier_message_id, p.connector_id, p.status,
              old.status as previous_status, p.error_code, p.submitted_at, p.done_at
          )
          select 'updated' as kind, upd.* from upd
          ${
            round === 0
              ? sql`union all
          select 'before', message_id, workspace_id, part_index, carrier_message_id, connector_id, status,
            null, error_code, null, null
          from message_parts where message_id = any(${messageIds}::uuid[])`
              : sql``
          }
          order by kind, message_id, part_index`.execute(trx);
        round++;
        const changed = new Set(
          res.rows
            .filter((r) => r.kind === 'updated')
            .map((r) => key({ messageId: r.message_id, partIndex: r.part_index })),
        );
        for (const c of changesOfRound) if (!changed.has(key(c))) refused.push(refOf(c));
        for (const r of res.rows) {
          if (r.kind === 'before') {
            const list = byMessage.get(r.message_id) ?? [];
            list[r.part_index] = { status: r.status, error_code: r.error_code };
            byMessage.set(r.message_id, list);
            continue;
          }
          const list = byMessage.get(r.message_id);
          if (list) list[r.part_index] = { status: r.status, error_code: r.error_code };
          parts.push({
            messageId: r.message_id,
            workspaceId: r.workspace_id,
            partIndex: r.part_index,
            carrierMessageId: r.carrier_message_id,
            connectorId: r.connector_id,
            status: r.status,
            previousStatus: r.previous_status!,
            errorCode: r.error_code,
            submittedAt: r.submitted_at!,
            doneAt: r.done_at,
          });
        }
      }
      if (parts.length === 0) return { parts, messages: [], refused };

      // The time of a message's change is that of the latest part change that caused it.
      const lastAt = new Map<string, Date>();
      const eventOf = new Map<string, Record<string, unknown>>();
      const detailOf = new Map<string, string>();
      for (const c of applicable) {
        const id = c.messageId;
        const prev = lastAt.get(id);
        if (!prev || c.at >= prev) {
          lastAt.set(id, c.at);
          if (c.event) eventOf.set(id, c.event);
          if (c.detail) detailOf.set(id, c.detail);
        }
      }

      const touched = [...new Set(parts.map((p) => p.messageId))];
      const messageChanges: StatusChange[] = [];
      for (const id of touched) {
        // Part indexes are dense from 0; filter keeps a gap (never expected) from breaking the sum.
        const list = (byMessage.get(id) ?? []).filter(Boolean);
        const from = current.get(id);
        if (!from || list.length === 0) continue;
        const to = aggregateParts(
          list.map((p) => p.status),
          rule,
        );
        if (!canTransition(from, to) && !canReaggregate(from, to)) continue;
        const deciding = list.find((p) => p.status === to && p.error_code);
        messageChanges.push({
          id,
          status: to,
          errorCode: deciding?.error_code ?? null,
          detail: detailOf.get(id) ?? null,
          event: {
            ...(eventOf.get(id) ?? {}),
            ...(list.length > 1 ? { parts: list.map((p) => p.status), rule } : {}),
          },
          at: lastAt.get(id)!,
        });
      }
      const messages = await this.applyChanges(trx, messageChanges, false);
      return { parts, messages, refused };
    });
  }

  /** One message of a workspace with its parts and status events; another workspace's is absent. */
  async get(workspaceId: string, id: string): Promise<MessageDetail | undefined> {
    const row = await this.db
      .selectFrom('messages')
      .selectAll()
      .where('id', '=', id)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    if (!row) return undefined;
    const [parts, events, notApplied] = await Promise.all([
      this.db
        .selectFrom('message_parts')
        .selectAll()
        .where('message_id', '=', id)
        .where('workspace_id', '=', workspaceId)
        .orderBy('part_index')
        .execute(),
      this.db
        .selectFrom('message_events')
        .select(['status', 'at', 'detail'])
        .where('message_id', '=', id)
        .where('workspace_id', '=', workspaceId)
        .orderBy('at')
        .orderBy('id')
        .execute(),
      this.db
        .selectFrom('unapplied_receipts')
        .select(['reason', 'stat', 'raw', 'received_at'])
        .where('message_id', '=', id)
        .where('workspace_id', '=', workspaceId)
        .orderBy('id')
        .execute(),
    ]);
    return {
      ...toRecord(row),
      parts: parts.map((p) => ({
        messageId: p.message_id,
        workspaceId: p.workspace_id,
        partIndex: p.part_index,
        carrierMessageId: p.carrier_message_id,
        connectorId: p.connector_id,
        status: p.status as MessageStatus,
        errorCode: p.error_code,
        submittedAt: p.submitted_at,
        doneAt: p.done_at,
      })),
      events: events.map((e) => ({ status: e.status, at: e.at, detail: e.detail ?? {} })),
      receiptsNotApplied: notApplied.map((r) => ({
        reason: r.reason,
        stat: r.stat,
        raw: r.raw,
        receivedAt: r.received_at,
      })),
    };
  }

  /**
   * Reply matching: the latest message sent to `customer` from `sender` since `since` (in one
   * workspace, or in any when the sender is shared and the workspace is not known). Messages that
   * never left (suppressed, canceled before submit, refused before the carrier) cannot be answered.
   */
  async latestOutbound(
    workspaceId: string | undefined,
    customer: string,
    sender: string,
    since: Date,
  ): Promise<OutboundMatch | undefined> {
    let q = this.db
      .selectFrom('messages')
      .select([
        'id',
        'workspace_id',
        'campaign_id',
        'type',
        'sender',
        'body',
        'status',
        'metadata',
        'accepted_at',
        'auto_reply',
      ])
      .where('to_e164', '=', customer)
      .where('sender', '=', sender)
      .where('accepted_at', '>=', since)
      .where((eb) =>
        eb.or([
          eb('status', 'in', REACHED_STATUSES),
          eb.and([eb('status', 'in', MAYBE_REACHED_STATUSES), eb('submitted_at', 'is not', null)]),
        ]),
      );
    if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
    const r = await q.orderBy('accepted_at', 'desc').limit(1).executeTakeFirst();
    if (!r) return undefined;
    return {
      id: r.id,
      workspaceId: r.workspace_id,
      campaignId: r.campaign_id,
      type: r.type,
      sender: r.sender,
      body: r.body,
      status: r.status as MessageStatus,
      metadata: r.metadata ?? {},
      acceptedAt: r.accepted_at,
      autoReply: r.auto_reply,
    };
  }

  /** Messages claimed for submit longer ago than `olderThan` and never marked: reconcile them. */
  async stuckInSubmitting(olderThan: Date, limit = 1_000): Promise<StuckMessage[]> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['id', 'workspace_id', 'to_e164', 'sender', 'carrier_id', 'connector_id', 'updated_at'])
      .where('status', '=', 'submitting')
      .where('updated_at', '<', olderThan)
      .orderBy('updated_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      workspaceId: r.workspace_id,
      to: r.to_e164,
      sender: r.sender,
      carrierId: r.carrier_id,
      connectorId: r.connector_id,
      claimedAt: r.updated_at,
    }));
  }

  /** Messages and segments per status of one campaign. */
  async statsByCampaign(campaignId: string, workspaceId?: string): Promise<CampaignStatusCount[]> {
    let q = this.db
      .selectFrom('messages')
      .select((eb) => [
        'status',
        eb.fn.countAll<number>().as('messages'),
        eb.fn.coalesce(eb.fn.sum<number>('segments'), sql<number>`0`).as('segments'),
      ])
      .where('campaign_id', '=', campaignId);
    if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
    const rows = await q.groupBy('status').orderBy('status').execute();
    return rows.map((r) => ({
      status: r.status as MessageStatus,
      messages: Number(r.messages),
      segments: Number(r.segments),
    }));
  }
}
