// Campaigns in Postgres: drafts with their plan, state changes that only move forward, the
// expansion checkpoint, and the counts behind a campaign's live stats.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { compileFilter } from '../audiences/segment.repository';
import { parseFilter } from '../audiences/segment-filter';

export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'canceled';

export interface CampaignRow {
  id: string;
  workspace_id: string;
  name: string;
  audience_id: string;
  segment_id: string | null;
  from_address: string;
  body: string;
  type: 'marketing' | 'transactional';
  status: CampaignStatus;
  schedule_at: Date | null;
  quiet_hours: { start: string; end: string } | null;
  validity_seconds: number | null;
  max_segments_per_second: number | null;
  weight: number;
  reply_handlers: unknown[];
  status_callback: string | null;
  plan: Record<string, unknown>;
  recipients: number;
  excluded: number;
  expanded: number;
  checkpoint: string | null;
  created_at: Date;
  launched_at: Date | null;
  expanded_at: Date | null;
  paused_at: Date | null;
  canceled_at: Date | null;
  completed_at: Date | null;
}

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

  async list(workspaceId: string, limit: number): Promise<CampaignRow[]> {
    return (await this.db
      .selectFrom('campaigns')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute()) as CampaignRow[];
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

  /** Records a finished chunk: everything up to `checkpoint` (a contact id) is on the topic. */
  async advance(id: string, checkpoint: string, expandedDelta: number): Promise<void> {
    await this.db
      .updateTable('campaigns')
      .set((eb) => ({ checkpoint, expanded: eb('expanded', '+', expandedDelta) }))
      .where('id', '=', id)
      .execute();
  }

  async markExpanded(id: string): Promise<void> {
    await this.db.updateTable('campaigns').set({ expanded_at: new Date() }).where('id', '=', id).execute();
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

  /** Matching members of the audience (or segment filter) that are opted out: excluded from the plan. */
  async optedOutCount(
    workspaceId: string,
    audienceId: string,
    filter: unknown | null,
    senderAddress?: string,
  ): Promise<number> {
    const node = filter ? parseFilter(filter) : undefined;
    const keys = senderAddress ? ['', senderAddress] : [''];
    const r = await this.db
      .selectFrom('audience_members as m')
      .innerJoin('contacts as c', 'c.id', 'm.contact_id')
      .where('m.audience_id', '=', audienceId)
      .where('m.workspace_id', '=', workspaceId)
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('consent_state as s')
            .select(sql`1`.as('one'))
            .whereRef('s.workspace_id', '=', 'c.workspace_id')
            .whereRef('s.e164', '=', 'c.e164')
            .where('s.sender_address', '=', sql<string>`any(${keys}::text[])`)
            .where('s.status', '=', 'opted_out'),
        ),
      )
      .$if(node !== undefined, (q) => q.where((eb) => compileFilter(eb as any, node!)))
      .select(sql<number>`count(distinct c.id)::int`.as('n'))
      .executeTakeFirstOrThrow();
    return r.n;
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
