// Where receipts land: a message's parts by the key their connector's receipts are looked up by,
// and part statuses applied (the state machine per part) then added up into the message's status by
// the multipart rule, in one transaction per batch. SQL of the receipts role only.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { AppliedChange, MessagePart, PartRef, StatusChange, roundsByKey } from '../messages/message-record';
import { MessageStatusRepository, TERMINAL } from '../messages/message-status.repository';
import { isTerminal } from '../messages/message.types';
import type { MessageStatus, MessageType } from '../messages/message.types';
import type { OrphanCandidate } from './orphan-match';
import {
  ALLOWED_TRANSITIONS,
  DEFAULT_MULTIPART_RULE,
  MultipartRule,
  aggregateParts,
  canReaggregate,
  canTransition,
} from '../messages/status-machine';

/** What a receipt is looked up by: its connector and the id in that connector's key form. */
export interface ReceiptKeyRef {
  connectorId: string;
  receiptKey: string;
}

export interface PartStatusChange extends PartRef {
  status: MessageStatus;
  /**
   * Parts the message will have: set for a part added from a receipt (orphan-match.ts), whose
   * siblings may not be known yet and count as open until their receipts come.
   */
  expectedParts?: number;
  errorCode?: string | null;
  detail?: string | null;
  event?: Record<string, unknown>;
  at: Date;
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

@Injectable()
export class PartOutcomeRepository {
  constructor(
    @InjectDb() private readonly db: Db,
    private readonly statuses: MessageStatusRepository,
  ) {}

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
      -- One index lookup per key whatever the statistics say (see applyPartStatuses).
      cross join lateral (
        select * from message_parts p
         where p.connector_id = k.connector_id and p.receipt_key = k.receipt_key
           and ${open ? sql`p.status = any(${openStatuses}::text[])` : sql`not (p.status = any(${openStatuses}::text[]))`}
        offset 0) p
      join messages m on m.id = p.message_id
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
   * Messages whose carrier answer was lost that could be each receipt's (orphan-match.ts): same
   * connector and handset (or the message the receipt names), fenced before the receipt came and
   * at most `maxAgeMs` before it, `unknown` or `submitting` for longer than `graceMs`. One index
   * lookup per receipt and address.
   */
  async findOrphanCandidates(
    lookups: readonly {
      i: number;
      connectorId: string;
      to: string | null;
      messageId: string | null;
      at: Date;
    }[],
    graceMs: number,
    maxAgeMs: number,
  ): Promise<(OrphanCandidate & { i: number })[]> {
    if (!lookups.length) return [];
    const col = <T>(f: (l: (typeof lookups)[number]) => T) => lookups.map(f);
    const open = sql`m.status in ('submitting', 'unknown') and m.submitting_at <= k.at
          and m.submitting_at > k.at - ${maxAgeMs}::bigint * interval '1 millisecond'
          and (m.status = 'unknown' or m.submitting_at < now() - ${graceMs}::bigint * interval '1 millisecond')
          and m.connector_id = k.connector_id`;
    const r = await sql<{
      i: number;
      id: string;
      workspace_id: string;
      to_e164: string;
      sender: string;
      segments: number;
      submitting_at: Date;
      parts: number;
    }>`
      select k.i, m.id, m.workspace_id, m.to_e164, m.sender, m.segments, m.submitting_at,
             (select count(*) from message_parts q where q.message_id = m.id)::int as parts
        from unnest(${col((l) => l.i)}::int[], ${col((l) => l.connectorId)}::text[], ${col((l) => l.to)}::text[],
                    ${col((l) => l.messageId)}::uuid[], ${col((l) => l.at)}::timestamptz[])
             as k(i, connector_id, to_e164, message_id, at)
        cross join lateral (
          select m.* from messages m where k.message_id is null and m.to_e164 = k.to_e164 and ${open}
          union all
          select m.* from messages m where k.message_id is not null and m.id = k.message_id and ${open}
          offset 0) m`.execute(this.db);
    return r.rows.map((x) => ({
      i: x.i,
      messageId: x.id,
      workspaceId: x.workspace_id,
      to: x.to_e164,
      sender: x.sender,
      segments: x.segments,
      parts: Number(x.parts),
      submittingAt: x.submitting_at,
    }));
  }

  /**
   * Records parts learned from receipts (their carrier ids were lost with a submit's answer).
   * Returns the `messageId#partIndex` of those added; one another process added first is not.
   */
  async addOrphanParts(
    parts: readonly {
      workspaceId: string;
      messageId: string;
      partIndex: number;
      carrierMessageId: string;
      receiptKey: string;
      connectorId: string;
      submittedAt: Date;
    }[],
  ): Promise<Set<string>> {
    if (!parts.length) return new Set();
    const col = <T>(f: (p: (typeof parts)[number]) => T) => parts.map(f);
    const r = await sql<{ message_id: string; part_index: number }>`
      insert into message_parts (workspace_id, message_id, part_index, carrier_message_id, receipt_key,
                                 connector_id, status, submitted_at)
      select * from unnest(${col((p) => p.workspaceId)}::uuid[], ${col((p) => p.messageId)}::uuid[],
                           ${col((p) => p.partIndex)}::int[], ${col((p) => p.carrierMessageId)}::text[],
                           ${col((p) => p.receiptKey)}::text[], ${col((p) => p.connectorId)}::text[],
                           ${col(() => 'submitted')}::text[], ${col((p) => p.submittedAt)}::timestamptz[])
      on conflict do nothing
      returning message_id, part_index`.execute(this.db);
    return new Set(r.rows.map((x) => `${x.message_id}#${x.part_index}`));
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
              done_at = case when u.status = any(${TERMINAL}::text[]) then u.at else p.done_at end,
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
          select 'before', q.message_id, q.workspace_id, q.part_index, q.carrier_message_id, q.connector_id,
            q.status, null, q.error_code, null, null
          -- A lookup per message by the key's leading column, whatever the statistics say: written
          -- as message_id = any(…) or a plain join, a table never analyzed (autovacuum off) is read
          -- whole per batch; offset 0 keeps the planner from turning the lookup into that join.
          from unnest(${messageIds}::uuid[]) as k(id),
               lateral (select * from message_parts q where q.message_id = k.id offset 0) q`
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

      const expectedOf = new Map<string, number>();
      for (const c of applicable)
        if (c.expectedParts)
          expectedOf.set(c.messageId, Math.max(c.expectedParts, expectedOf.get(c.messageId) ?? 0));
      const touched = [...new Set(parts.map((p) => p.messageId))];
      const messageChanges: StatusChange[] = [];
      for (const id of touched) {
        // Part indexes are dense from 0; filter keeps a gap (never expected) from breaking the sum.
        const list = (byMessage.get(id) ?? []).filter(Boolean);
        // Parts learned from receipts: the siblings not heard of yet are still open.
        const expected = expectedOf.get(id) ?? 0;
        const known = list.length;
        while (list.length && list.length < expected) list.push({ status: 'submitted', error_code: null });
        const from = current.get(id);
        if (!from || list.length === 0) continue;
        const to = aggregateParts(
          list.map((p) => p.status),
          rule,
        );
        if (!canTransition(from, to) && !canReaggregate(from, to)) continue;
        // Until its last part is heard of, a message tied to receipts keeps its status (`submitting`
        // or `unknown`), so the receipts still to come find it as they found the first.
        if (known < expected && !isTerminal(to)) continue;
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
      const messages = await this.statuses.apply(messageChanges, { executor: trx, enforce: false });
      return { parts, messages, refused };
    });
  }
}
