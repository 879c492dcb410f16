// Campaigns in Postgres: drafts with their plan, state changes that only move forward, the
// expansion checkpoint, and the counts behind a campaign's live stats.
import { Injectable } from '@nestjs/common';
import { Selectable, sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { Keyset, newestFirst, sortTime } from '../../infra/db/keyset';
import { RECIPIENT_COLUMNS, Recipient, compileFilter } from '../audiences/segment.repository';
import { FilterNode, parseFilter } from '../audiences/segment-filter';
import type { CampaignsTable } from './campaigns.tables';

export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'canceled';

/** A campaign's row as the table holds it, its status one of ours. */
export type CampaignRow = Omit<Selectable<CampaignsTable>, 'status'> & { status: CampaignStatus };

export interface NewCampaign {
  workspaceId: string;
  name: string;
  audienceId: string;
  segmentId: string | null;
  from: string;
  body: string;
  type: 'marketing' | 'transactional';
  scheduleAt: Date | null;
  quietHours: { start: string; end: string } | null;
  validitySeconds: number | null;
  maxSegmentsPerSecond: number | null;
  weight: number;
  replyHandlers: unknown[];
  statusCallback: string | null;
  plan: Record<string, unknown>;
  recipients: number;
  excluded: number;
}

/** Whom a campaign walks: an audience's members, narrowed by its segment's filter. */
export interface RecipientSelection {
  workspaceId: string;
  audienceId: string;
  filter?: FilterNode;
  /** Numbers opted out of this sender only are excluded too (a single-sender `from`). */
  senderAddress?: string;
}

/** A member of the selection, with whether consent excludes it. */
export interface CampaignRecipient extends Recipient {
  optedOut: boolean;
}

export interface RecipientPage {
  /** The last member id this page scanned: the keyset (and checkpoint) for the next one. */
  lastId: number;
  /** Matching members, in contact-id order (fewer than scanned when a filter narrows them). */
  recipients: CampaignRecipient[];
}

/** Which states a command may move a campaign from. */
const FROM: Record<'launch' | 'schedule' | 'pause' | 'resume' | 'cancel' | 'complete', CampaignStatus[]> = {
  launch: ['draft', 'scheduled'],
  schedule: ['draft'],
  pause: ['running', 'scheduled'],
  resume: ['paused'],
  cancel: ['draft', 'scheduled', 'running', 'paused'],
  complete: ['running'],
};
const TO = {
  launch: 'running',
  schedule: 'scheduled',
  pause: 'paused',
  resume: 'running',
  cancel: 'canceled',
  complete: 'completed',
} as const;

@Injectable()
export class CampaignRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  async insert(c: NewCampaign): Promise<CampaignRow> {
    const r = await this.db
      .insertInto('campaigns')
      .values({
        workspace_id: c.workspaceId,
        name: c.name,
        audience_id: c.audienceId,
        segment_id: c.segmentId,
        from_address: c.from,
        body: c.body,
        type: c.type,
        schedule_at: c.scheduleAt,
        quiet_hours: c.quietHours ? JSON.stringify(c.quietHours) : null,
        validity_seconds: c.validitySeconds,
        max_segments_per_second: c.maxSegmentsPerSecond,
        weight: c.weight,
        reply_handlers: JSON.stringify(c.replyHandlers),
        status_callback: c.statusCallback,
        plan: JSON.stringify(c.plan),
        recipients: c.recipients,
        excluded: c.excluded,
        checkpoint: null,
        launched_at: null,
        expanded_at: null,
        paused_at: null,
        canceled_at: null,
        completed_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return r as unknown as CampaignRow;
  }

  async get(workspaceId: string | undefined, id: string): Promise<CampaignRow | undefined> {
    let q = this.db.selectFrom('campaigns').selectAll().where('id', '=', id);
    if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
    return (await q.executeTakeFirst()) as CampaignRow | undefined;
  }

  /** Newest first, by (created_at, id); `sort_at` is created_at to the microsecond, for the cursor. */
  async list(
    workspaceId: string,
    page: Keyset<readonly [string, string]>,
  ): Promise<(CampaignRow & { sort_at: string })[]> {
    const q = this.db
      .selectFrom('campaigns')
      .selectAll()
      .select(sortTime('created_at').as('sort_at'))
      .where('workspace_id', '=', workspaceId);
    return (await newestFirst(q, page).execute()) as (CampaignRow & {
      sort_at: string;
    })[];
  }

  /** Moves the campaign if its state allows the command; undefined when it did not move. */
  async transition(
    workspaceId: string | undefined,
    id: string,
    command: keyof typeof FROM,
    extra: { plan?: Record<string, unknown>; recipients?: number; excluded?: number } = {},
  ): Promise<CampaignRow | undefined> {
    const now = new Date();
    let q = this.db
      .updateTable('campaigns')
      .set({
        status: TO[command],
        ...(command === 'launch' ? { launched_at: now } : {}),
        ...(command === 'pause' ? { paused_at: now } : {}),
        ...(command === 'resume' ? { paused_at: null } : {}),
        ...(command === 'cancel' ? { canceled_at: now } : {}),
        ...(command === 'complete' ? { completed_at: now } : {}),
        ...(extra.plan ? { plan: JSON.stringify(extra.plan) } : {}),
        ...(extra.recipients !== undefined ? { recipients: extra.recipients } : {}),
        ...(extra.excluded !== undefined ? { excluded: extra.excluded } : {}),
      })
      .where('id', '=', id)
      .where('status', 'in', FROM[command]);
    if (workspaceId) q = q.where('workspace_id', '=', workspaceId);
    return (await q.returningAll().executeTakeFirst()) as CampaignRow | undefined;
  }

  /**
   * Records a finished chunk: everything up to `to` (a contact id) is on the topic. Moves only from
   * `from` (the checkpoint the caller started that chunk at), so of two runs of one expansion (a
   * stalled job picked up again) only one advances and counts; the other learns it lost (undefined).
   * Returns the campaign's status, so the caller sees pause and cancel without another read.
   */
  async advance(
    id: string,
    from: string | null,
    to: string,
    expandedDelta: number,
  ): Promise<CampaignStatus | undefined> {
    const r = await this.db
      .updateTable('campaigns')
      .set((eb) => ({ checkpoint: to, expanded: eb('expanded', '+', expandedDelta) }))
      .where('id', '=', id)
      .where(sql<boolean>`checkpoint is not distinct from ${from}`)
      .returning('status')
      .executeTakeFirst();
    return r?.status as CampaignStatus | undefined;
  }

  /** Marks the expansion finished, unless another run already moved the checkpoint on. */
  async markExpanded(id: string, checkpoint: string | null): Promise<void> {
    await this.db
      .updateTable('campaigns')
      .set({ expanded_at: new Date() })
      .where('id', '=', id)
      .where(sql<boolean>`checkpoint is not distinct from ${checkpoint}`)
      .where('expanded_at', 'is', null)
      .execute();
  }

  /**
   * One page of a campaign's recipients after member id `afterId`: `limit` members of the audience
   * in contact-id order (the membership key, so each page is one short index range however large
   * the audience), then those contacts by primary key with the segment filter and their consent.
   * Shaped so its plan does not depend on table statistics: right after a large import, before
   * autovacuum analyzes, the planner thinks a new workspace has one contact, and a join written
   * the usual way turned into a scan of the workspace per member (minutes for 20,000). Consent is
   * a per-row key lookup rather than an anti-join for the same reason; opted-out members come back
   * flagged (the plan counts them in the same walk). JIT is off: it compiles for 100+ ms a query
   * that runs in tens. Undefined lastId: nothing left.
   */
  async recipientPage(
    sel: RecipientSelection,
    afterId: number,
    limit: number,
  ): Promise<RecipientPage | undefined> {
    return this.db.transaction().execute(async (trx) => {
      await sql`set local jit = off`.execute(trx);
      const members = await trx
        .selectFrom('audience_members')
        .select('contact_id')
        .where('audience_id', '=', sel.audienceId)
        .where('workspace_id', '=', sel.workspaceId)
        .where('contact_id', '>', afterId)
        .orderBy('contact_id')
        .limit(limit)
        .execute();
      if (!members.length) return undefined;
      const ids = members.map((m) => m.contact_id);
      const consentOf = (sender: string) =>
        sql<'opted_in' | 'opted_out' | null>`(select s.status from consent_state s
          where s.workspace_id = c.workspace_id and s.e164 = c.e164 and s.sender_address = ${sender})`;
      const rows = await trx
        .selectFrom('contacts as c')
        .where('c.id', '=', sql<number>`any(${ids}::bigint[])`)
        .$if(sel.filter !== undefined, (q) =>
          q.where((eb) => compileFilter(eb as unknown as Parameters<typeof compileFilter>[0], sel.filter!)),
        )
        .select([
          ...RECIPIENT_COLUMNS,
          'c.workspace_id',
          consentOf('').as('consent'),
          (sel.senderAddress ? consentOf(sel.senderAddress) : sql<null>`null`).as('sender_consent'),
        ])
        .orderBy('c.id')
        .execute();
      const recipients: CampaignRecipient[] = [];
      for (const { workspace_id, sender_consent, consent, ...r } of rows) {
        // Not filtered in SQL (an indexable workspace condition is what misleads the planner):
        // memberships only ever point at the workspace's own contacts, and this keeps it so.
        if (workspace_id !== sel.workspaceId) continue;
        recipients.push({
          ...r,
          attributes: (r.attributes ?? {}) as Record<string, unknown>,
          consent: consent === 'opted_in' ? 'opted_in' : null,
          optedOut: consent === 'opted_out' || sender_consent === 'opted_out',
        });
      }
      return { lastId: ids[ids.length - 1], recipients };
    });
  }

  /**
   * Every page of the selection after `afterId`; the next page is read while the caller works on
   * the current one. The first page is `firstPageSize` long (a small one reaches the dispatcher sooner).
   */
  async *recipientPages(
    sel: RecipientSelection,
    afterId: number,
    pageSize: number,
    firstPageSize = pageSize,
  ): AsyncGenerator<RecipientPage> {
    let next = this.recipientPage(sel, afterId, Math.min(firstPageSize, pageSize));
    try {
      while (true) {
        const page = await next;
        if (!page) return;
        next = this.recipientPage(sel, page.lastId, pageSize);
        yield page;
      }
    } finally {
      // A caller that stops early leaves one read in flight; its outcome no longer matters.
      next.catch(() => undefined);
    }
  }

  /** What a campaign walks, or undefined when its segment is gone. */
  async selectionOf(
    workspaceId: string,
    audienceId: string,
    segmentId: string | null,
    senderAddress?: string,
  ): Promise<RecipientSelection | undefined> {
    if (!segmentId) return { workspaceId, audienceId, senderAddress };
    const seg = await this.segmentOf(workspaceId, segmentId);
    if (!seg) return undefined;
    return { workspaceId, audienceId: seg.audience_id, filter: parseFilter(seg.filter), senderAddress };
  }

  /** Cancel: messages not yet claimed by a dispatcher end as canceled (a claim then finds nothing). */
  async cancelPending(campaignId: string): Promise<number> {
    const r = await sql<{ n: number }>`
      with changed as (
        update messages set status = 'canceled', final_at = now(), updated_at = now(), error_code = 'campaign_canceled'
        where campaign_id = ${campaignId} and status in ('accepted', 'queued')
        returning id, workspace_id
      ), ev as (
        insert into message_events (workspace_id, message_id, status, at, detail)
        select workspace_id, id, 'canceled', now(), '{"reason":"campaign canceled"}'::jsonb from changed
      )
      select count(*)::int as n from changed`.execute(this.db);
    return r.rows[0]?.n ?? 0;
  }

  /** States of several campaigns at once (the dispatcher checks them per batch). */
  async states(
    ids: string[],
  ): Promise<Map<string, { status: CampaignStatus; maxSegmentsPerSecond: number | null; weight: number }>> {
    if (!ids.length) return new Map();
    const rows = await this.db
      .selectFrom('campaigns')
      .select(['id', 'status', 'max_segments_per_second', 'weight'])
      .where('id', 'in', ids)
      .execute();
    return new Map(
      rows.map((r) => [
        r.id,
        {
          status: r.status as CampaignStatus,
          maxSegmentsPerSecond: r.max_segments_per_second,
          weight: r.weight,
        },
      ]),
    );
  }

  async segmentOf(
    workspaceId: string,
    segmentId: string,
  ): Promise<{ audience_id: string; filter: unknown } | undefined> {
    return this.db
      .selectFrom('segments')
      .select(['audience_id', 'filter'])
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', segmentId)
      .executeTakeFirst();
  }

  async audienceExists(workspaceId: string, audienceId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('audiences')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', audienceId)
      .executeTakeFirst();
    return !!r;
  }

  /** Messages of the campaign submitted since `since` (for the live rate). */
  async submittedSince(campaignId: string, since: Date): Promise<{ messages: number; segments: number }> {
    const r = await this.db
      .selectFrom('messages')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number>('segments'), sql<number>`0`).as('s'),
      ])
      .where('campaign_id', '=', campaignId)
      .where('submitted_at', '>=', since)
      .executeTakeFirstOrThrow();
    return { messages: Number(r.n), segments: Number(r.s) };
  }
}
