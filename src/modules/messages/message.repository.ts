// The message record as the API writes and reads it: a message accepted through POST /v1/messages
// (one row, no event: its history is the timestamps on the row), one message with its parts and
// history, a campaign's counts. The dispatcher and the receipts consumer write through repositories
// of their own (dispatch-record, part-outcome); all of them share message-record.ts's shapes.
import { Injectable } from '@nestjs/common';
import { Selectable, sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { Database } from '../../infra/db/database';
import type { Encoding } from '../carriers/connector';
import type { AcceptedRow, CampaignStatusCount, MessagePart } from './message-record';
import { MessageStatus, MessageType, isTerminal } from './message.types';

export type {
  AcceptedRow,
  AppliedChange,
  CampaignStatusCount,
  MessagePart,
  StatusChange,
  SubmittedRow,
} from './message-record';

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
  sentAt: Date | null;
  autoReply: boolean;
}

export interface MessageDetail extends MessageRecord {
  parts: MessagePart[];
  events: MessageEvent[];
  /** Receipts that named this message and changed nothing (late, repeated, unmappable). */
  receiptsNotApplied: { reason: string; stat: string | null; raw: string; receivedAt: Date }[];
}

// Bounds one statement's arrays (and so its memory and lock time).
const INSERT_CHUNK = 5_000;

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
    sentAt: r.sent_at,
    autoReply: r.auto_reply,
  };
}

/**
 * A message's history: the transitions every message goes through are timestamps on its row (and
 * its final status's detail, `outcome`); only the unusual ones (a hold, a retry given up) are event
 * rows. Together, in time order, they read as the event list the API has always shown.
 */
function historyOf(
  r: MessageRow,
  parts: { carrier_message_id: string; part_index: number }[],
  extra: { status: string; at: Date; detail: Record<string, unknown> | null }[],
): MessageEvent[] {
  const out: MessageEvent[] = [{ status: 'accepted', at: r.accepted_at, detail: {} }];
  for (const e of extra) out.push({ status: e.status, at: e.at, detail: e.detail ?? {} });
  if (r.submitted_at)
    out.push({
      status: 'submitted',
      at: r.submitted_at,
      detail: {
        connector: r.connector_id,
        carrier: r.carrier_id,
        carrier_message_ids: [...parts]
          .sort((a, b) => a.part_index - b.part_index)
          .map((p) => p.carrier_message_id),
      },
    });
  if (r.sent_at) out.push({ status: 'sent', at: r.sent_at, detail: {} });
  if (r.final_at && isTerminal(r.status))
    out.push({ status: r.status, at: r.final_at, detail: r.outcome ?? {} });
  // Stable: ties keep the order above (accepted before what followed it in the same millisecond).
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.at.getTime() - b.e.at.getTime() || a.i - b.i)
    .map(({ e }) => e);
}

@Injectable()
export class MessageRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * Inserts accepted messages (ids given by the caller; an id already stored is skipped, so a
   * retried batch inserts nothing twice). No event row: `accepted_at` is the accepted event.
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
        returning id`.execute(this.db);
      for (const x of r.rows) inserted.push(x.id);
    }
    return inserted;
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
      events: historyOf(row, parts, events),
      receiptsNotApplied: notApplied.map((r) => ({
        reason: r.reason,
        stat: r.stat,
        raw: r.raw,
        receivedAt: r.received_at,
      })),
    };
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
