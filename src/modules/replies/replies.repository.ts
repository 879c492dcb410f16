// Inbound messages, the inbox, campaign responses and conversation threads in Postgres.
import { Injectable } from '@nestjs/common';
import { Kysely, Selectable, sql } from 'kysely';
import type { Database } from '../../infra/db/database';
import { textArray } from '../../infra/db/pg-array';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { Keyset, newestFirst, sortTime } from '../../infra/db/keyset';
import type { InboundMessagesTable, InboxItemsTable } from './replies.tables';

export interface InboundRow {
  id: string;
  workspaceId: string | null;
  connectorId: string;
  from: string;
  to: string;
  body: string;
  /** The text as received (escaped) when `body` had code points replaced; else null. */
  bodyRaw: string | null;
  carrierMessageId: string | null;
  receivedAt: Date;
  intent: string;
  keyword: string | null;
  language: string;
  confidence: number;
  matchedMessageId: string | null;
  campaignId: string | null;
  actions: unknown[];
  /** Work left after the commit (JSON-serialisable), or null when there is none. */
  followUps: unknown;
}

/** A stored inbound row and its follow-ups: null once done, else left by a batch that failed after its commit. */
export type PendingInbound = Pick<
  InboundRow,
  'id' | 'workspaceId' | 'connectorId' | 'from' | 'to' | 'body' | 'receivedAt' | 'followUps'
>;

export interface ThreadMatch {
  from: string;
  to: string;
  messageId: string;
  workspaceId: string;
  campaignId: string | null;
  type: 'transactional' | 'marketing';
  metadata: Record<string, unknown>;
  acceptedAt: Date;
}

/** What an inbox item shows, the same in lists and lookups. */
const INBOX_COLUMNS = [
  'id',
  'customer',
  'sender',
  'campaign_id',
  'message_id',
  'intent',
  'body',
  'context',
  'status',
  'created_at',
  'closed_at',
] as const;
export type InboxItem = Pick<Selectable<InboxItemsTable>, (typeof INBOX_COLUMNS)[number]>;

const PENDING_COLUMNS = [
  'id',
  'workspace_id',
  'connector_id',
  'from_e164',
  'to_sender',
  'body',
  'received_at',
  'follow_ups',
] as const;

function pendingOf(
  r: Pick<Selectable<InboundMessagesTable>, (typeof PENDING_COLUMNS)[number]>,
): PendingInbound {
  return {
    id: r.id,
    workspaceId: r.workspace_id,
    connectorId: r.connector_id,
    from: r.from_e164,
    to: r.to_sender,
    body: r.body,
    receivedAt: r.received_at,
    followUps: r.follow_ups,
  };
}

@Injectable()
export class RepliesRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /**
   * For each (customer, sender) pair, the latest message Parley sent that customer from that sender
   * since `since` — one statement for a whole batch of replies (a lateral join over the pairs).
   */
  async latestOutboundMany(
    pairs: { from: string; to: string }[],
    since: Date,
    opts: { anyStatus?: boolean } = {},
  ): Promise<ThreadMatch[]> {
    if (!pairs.length) return [];
    const r = await sql<{
      from_e164: string;
      to_sender: string;
      id: string;
      workspace_id: string;
      campaign_id: string | null;
      type: 'transactional' | 'marketing';
      metadata: Record<string, unknown>;
      accepted_at: Date;
    }>`
      select p.from_e164, p.to_sender, m.id, m.workspace_id, m.campaign_id, m.type, m.metadata, m.accepted_at
      from unnest(${pairs.map((p) => p.from)}::text[], ${pairs.map((p) => p.to)}::text[]) as p(from_e164, to_sender)
      join lateral (
        select id, workspace_id, campaign_id, type, metadata, accepted_at from messages
        where to_e164 = p.from_e164 and sender = p.to_sender and accepted_at >= ${since}
          and (${opts.anyStatus === true} or status not in ('suppressed', 'rejected', 'canceled', 'accepted', 'queued'))
        order by accepted_at desc limit 1
      ) m on true`.execute(this.db);
    return r.rows.map((x) => ({
      from: x.from_e164,
      to: x.to_sender,
      messageId: x.id,
      workspaceId: x.workspace_id,
      campaignId: x.campaign_id,
      type: x.type,
      metadata: x.metadata ?? {},
      acceptedAt: x.accepted_at,
    }));
  }

  /** Workspaces that hold this number as a contact (whose consent a STOP from it concerns). */
  async workspacesWithContact(e164: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('contacts')
      .select('workspace_id')
      .where('e164', '=', e164)
      .distinct()
      .execute();
    return rows.map((r) => r.workspace_id);
  }

  /** Auto-replies sent to each number since `since` (the loop guard). */
  async autoRepliesSince(workspaceId: string, numbers: string[], since: Date): Promise<Map<string, number>> {
    if (!numbers.length) return new Map();
    const rows = await this.db
      .selectFrom('messages')
      .select(['to_e164', (eb) => eb.fn.countAll<number>().as('n')])
      .where('workspace_id', '=', workspaceId)
      .where('to_e164', 'in', numbers)
      .where('auto_reply', '=', true)
      .where('accepted_at', '>=', since)
      .groupBy('to_e164')
      .execute();
    return new Map(rows.map((r) => [r.to_e164, Number(r.n)]));
  }

  async campaignsHandlers(ids: string[]): Promise<Map<string, { handlers: unknown[]; name: string }>> {
    if (!ids.length) return new Map();
    const rows = await this.db
      .selectFrom('campaigns')
      .select(['id', 'reply_handlers', 'name'])
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.id, { handlers: r.reply_handlers ?? [], name: r.name }]));
  }

  /**
   * Inserts inbound rows in one statement (inside the caller's transaction when given); ids already
   * stored (an MO offered again, a redelivered Kafka batch) are skipped and not returned.
   */
  async insertInbound(rows: InboundRow[], trx: Kysely<Database> = this.db): Promise<Set<string>> {
    if (!rows.length) return new Set();
    // One array per column (unnest): a batch of hundreds of rows is a handful of parameters, not
    // thousands, so building and binding the statement does not hold up the event loop.
    const col = (f: (r: InboundRow) => string | null) => textArray(rows.map(f));
    const inserted = await sql<{ id: string }>`
      insert into inbound_messages (id, workspace_id, connector_id, from_e164, to_sender, body, body_raw,
        carrier_message_id, received_at, intent, keyword, language, confidence, matched_message_id,
        campaign_id, actions, follow_ups)
      select * from unnest(
        ${col((r) => r.id)}::uuid[], ${col((r) => r.workspaceId)}::uuid[],
        ${col((r) => r.connectorId)}::text[], ${col((r) => r.from)}::text[], ${col((r) => r.to)}::text[],
        ${col((r) => r.body)}::text[], ${col((r) => r.bodyRaw)}::text[], ${col((r) => r.carrierMessageId)}::text[],
        ${col((r) => r.receivedAt.toISOString())}::timestamptz[], ${col((r) => r.intent)}::text[],
        ${col((r) => r.keyword)}::text[], ${col((r) => r.language)}::text[],
        ${col((r) => String(r.confidence))}::real[], ${col((r) => r.matchedMessageId)}::uuid[],
        ${col((r) => r.campaignId)}::uuid[], ${col((r) => JSON.stringify(r.actions))}::jsonb[],
        ${col((r) => (r.followUps == null ? null : JSON.stringify(r.followUps)))}::jsonb[])
      on conflict (id) do nothing
      returning id`.execute(trx);
    return new Set(inserted.rows.map((r) => r.id));
  }

  /** Rows stored before `before` whose follow-ups are still not done, oldest first. */
  async unfinishedBefore(before: Date, limit: number): Promise<PendingInbound[]> {
    const rows = await this.db
      .selectFrom('inbound_messages')
      .select(PENDING_COLUMNS)
      .where('follow_ups', 'is not', null)
      .where('created_at', '<', before)
      .orderBy('created_at')
      .limit(limit)
      .execute();
    return rows.map(pendingOf);
  }

  /** The rows among `ids` that are already stored (one indexed lookup per batch). */
  async storedAmong(ids: string[]): Promise<PendingInbound[]> {
    if (!ids.length) return [];
    const rows = await this.db
      .selectFrom('inbound_messages')
      .select(PENDING_COLUMNS)
      .where('id', '=', sql<string>`any(${ids}::uuid[])`)
      .execute();
    return rows.map(pendingOf);
  }

  async followUpsDone(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.db
      .updateTable('inbound_messages')
      .set({ follow_ups: null })
      .where('id', '=', sql<string>`any(${ids}::uuid[])`)
      .where('follow_ups', 'is not', null)
      .execute();
  }

  async insertInboxItems(
    items: {
      workspaceId: string;
      inboundId: string;
      customer: string;
      sender: string;
      campaignId: string | null;
      messageId: string | null;
      intent: string;
      body: string;
      context: Record<string, unknown>;
    }[],
  ): Promise<void> {
    if (!items.length) return;
    const col = (f: (i: (typeof items)[number]) => string | null) => textArray(items.map(f));
    await sql`
      insert into inbox_items (workspace_id, inbound_id, customer, sender, campaign_id, message_id,
        intent, body, context)
      select * from unnest(
        ${col((i) => i.workspaceId)}::uuid[], ${col((i) => i.inboundId)}::uuid[],
        ${col((i) => i.customer)}::text[], ${col((i) => i.sender)}::text[],
        ${col((i) => i.campaignId)}::uuid[], ${col((i) => i.messageId)}::uuid[],
        ${col((i) => i.intent)}::text[], ${col((i) => i.body)}::text[],
        ${col((i) => JSON.stringify(i.context))}::jsonb[])
      on conflict (inbound_id) do nothing`.execute(this.db);
  }

  async recordResponses(
    rows: {
      workspaceId: string;
      campaignId: string;
      messageId: string;
      e164: string;
      kind: 'confirmed' | 'declined';
      inboundId: string;
      at: Date;
    }[],
  ): Promise<void> {
    if (!rows.length) return;
    await this.db
      .insertInto('campaign_responses')
      .values(
        rows.map((r) => ({
          workspace_id: r.workspaceId,
          campaign_id: r.campaignId,
          message_id: r.messageId,
          e164: r.e164,
          kind: r.kind,
          inbound_id: r.inboundId,
          at: r.at,
        })),
      )
      // A later answer replaces an earlier one: "YES" then "actually no" is a decline.
      .onConflict((oc) =>
        oc.columns(['campaign_id', 'message_id']).doUpdateSet((eb) => ({
          kind: eb.ref('excluded.kind'),
          inbound_id: eb.ref('excluded.inbound_id'),
          at: eb.ref('excluded.at'),
        })),
      )
      .execute();
  }

  /** Newest first, by (created_at, id); `sort_at` is created_at to the microsecond, for the cursor. */
  listInbox(
    workspaceId: string,
    status: 'open' | 'closed' | undefined,
    page: Keyset<readonly [string, string]>,
  ): Promise<(InboxItem & { sort_at: string })[]> {
    let q = this.db
      .selectFrom('inbox_items')
      .select([...INBOX_COLUMNS, sortTime('created_at').as('sort_at')])
      .where('workspace_id', '=', workspaceId);
    if (status) q = q.where('status', '=', status);
    return newestFirst(q, page).execute();
  }

  getInboxItem(workspaceId: string, id: string): Promise<InboxItem | undefined> {
    return this.db
      .selectFrom('inbox_items')
      .select(INBOX_COLUMNS)
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async closeInboxItem(workspaceId: string, id: string): Promise<InboxItem | undefined> {
    await this.db
      .updateTable('inbox_items')
      .set({ status: 'closed', closed_at: new Date() })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .where('status', '=', 'open')
      .execute();
    return this.getInboxItem(workspaceId, id);
  }

  /**
   * Both directions of one customer's thread in a workspace, oldest first, by (at, rank, id): rank
   * puts the outbound message before an inbound one of the same instant. `sort_at` is `at` to the
   * microsecond, for the cursor.
   */
  async conversation(workspaceId: string, customer: string, page: Keyset<readonly [string, number, string]>) {
    const after = page.after
      ? sql`where (at, rank, id) > (${page.after[0]}::timestamptz, ${page.after[1]}::int, ${page.after[2]}::uuid)`
      : sql``;
    const r = await sql<{
      direction: 'outbound' | 'inbound';
      id: string;
      at: Date;
      sender: string;
      body: string;
      campaign_id: string | null;
      status: string | null;
      intent: string | null;
      keyword: string | null;
      actions: unknown[] | null;
      metadata: Record<string, unknown> | null;
      rank: number;
      sort_at: string;
    }>`
      select *, ${sortTime('at')} as sort_at from (
        select 'outbound' as direction, 0 as rank, id, accepted_at as at, sender, body, campaign_id, status,
               null::text as intent, null::text as keyword, null::jsonb as actions, metadata
        from messages where workspace_id = ${workspaceId} and to_e164 = ${customer}
        union all
        select 'inbound', 1, id, received_at, to_sender, body, campaign_id, null, intent, keyword, actions, null
        from inbound_messages where workspace_id = ${workspaceId} and from_e164 = ${customer}
      ) t ${after} order by at asc, rank asc, id asc limit ${page.take}`.execute(this.db);
    return r.rows;
  }

  async responseCounts(campaignId: string): Promise<{
    replies: number;
    opt_outs: number;
    confirmed: number;
    declined: number;
    by_intent: Record<string, number>;
  }> {
    const [intents, responses] = await Promise.all([
      this.db
        .selectFrom('inbound_messages')
        .select(['intent', (eb) => eb.fn.countAll<number>().as('n')])
        .where('campaign_id', '=', campaignId)
        .groupBy('intent')
        .execute(),
      this.db
        .selectFrom('campaign_responses')
        .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
        .where('campaign_id', '=', campaignId)
        .groupBy('kind')
        .execute(),
    ]);
    const by_intent = Object.fromEntries(intents.map((r) => [r.intent, Number(r.n)]));
    const resp = Object.fromEntries(responses.map((r) => [r.kind, Number(r.n)]));
    return {
      replies: Object.values(by_intent).reduce((a, b) => a + b, 0),
      opt_outs: by_intent.opt_out ?? 0,
      confirmed: resp.confirmed ?? 0,
      declined: resp.declined ?? 0,
      by_intent,
    };
  }
}
