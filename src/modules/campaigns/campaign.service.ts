// Campaigns: creating a draft computes its launch plan from the real recipients (and refuses a
// template whose variables some recipients lack); launch, pause, resume and cancel move its state;
// the stats come from the message store and the replies.
import { InjectQueue } from '@nestjs/bullmq';
import { HttpStatus, Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { ApiError } from '../../infra/http/api-error';
import { assertCallbackUrls } from '../../infra/http/callback-url';
import { keysetOf, page } from '../../infra/http/pagination';
import { ConfigService } from '../../config/config.service';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { pacedRate } from '../rates/token-bucket';
import { CampaignStatusCount, MessageRepository } from '../messages/message.repository';
import { parseFilter } from '../audiences/segment-filter';
import { RepliesRepository } from '../replies/replies.repository';
import { Workspace } from '../workspaces/workspace.repository';
import { SendingLimitsService } from '../workspaces/sending-limits.service';
import { SegmentBudgetService } from '../messages/segment-budget.service';
import { destinationPolicy, destinationRule, parsePrefixList } from '../carriers/destination-policy';
import { CreateCampaignInput } from './campaign.dto';
import { PlanAccumulator } from './campaign-plan';
import { CampaignRepository, CampaignRow, RecipientSelection } from './campaign.repository';
import { AggregateCache } from './aggregate-cache';
import { QuietHoursError, windowFor } from './quiet-hours';
import { CampaignRules, quietWait, verdictsFor } from './recipient-message';
import { TemplateError, compileTemplate } from '../templates/template';
import { isUuid } from '../../infra/ids/uuid';

export const EXPAND_QUEUE = 'campaign-expand';
export interface ExpandJob {
  campaignId: string;
}

const PLAN_PAGE = 10_000;
const STATS_MAX_AGE_MS = 10_000;

@Injectable()
export class CampaignService {
  private readonly byStatus = new AggregateCache<CampaignStatusCount[]>();

  constructor(
    private readonly repo: CampaignRepository,
    private readonly directory: CarrierDirectory,
    private readonly config: ConfigService,
    private readonly messages: MessageRepository,
    private readonly replies: RepliesRepository,
    private readonly limits: SendingLimitsService,
    private readonly budget: SegmentBudgetService,
    @InjectQueue(EXPAND_QUEUE) private readonly queue: Queue<ExpandJob>,
  ) {
    this.blockedPrefixes = parsePrefixList(config.env.PARLEY_BLOCKED_PREFIXES);
  }

  /** PARLEY_BLOCKED_PREFIXES, read once. */
  private readonly blockedPrefixes: string[];

  async create(ws: Workspace, input: CreateCampaignInput) {
    // The URLs this campaign will post to follow the one callback URL rule, checked before storing.
    assertCallbackUrls(
      [
        ['status_callback', input.status_callback],
        ...input.reply_handlers.map((h, i) => [`reply_handlers.${i}.webhook`, h.webhook] as const),
      ],
      { production: this.config.env.NODE_ENV === 'production' },
    );
    if (input.quiet_hours) {
      try {
        // A stricter window is fine; a wider one than the law allows is refused here.
        windowFor('+10000000000', input.quiet_hours);
      } catch (e) {
        if (e instanceof QuietHoursError)
          throw ApiError.validation([
            { path: 'quiet_hours', message: e.message.replace(/^quiet_hours: /, '') },
          ]);
        throw e;
      }
    }
    let template;
    try {
      template = compileTemplate(input.body);
    } catch (e) {
      if (e instanceof TemplateError) throw ApiError.validation([{ path: 'body', message: e.message }]);
      throw e;
    }
    // The directory's own rule (sender or pool, allowed for this workspace); 400 naming `from`.
    this.directory.sendersNamed(ws, input.from);
    const target = await this.target(ws.id, input.audience_id, input.segment_id);
    const scheduleAt = input.schedule_at ? new Date(input.schedule_at) : null;
    const startsAt = scheduleAt && scheduleAt.getTime() > Date.now() ? scheduleAt : new Date();

    const acc = new PlanAccumulator();
    const missing = new Map<string, number>();
    // Numbers opted out of a single sender are excluded too; a pool's members share only the
    // workspace-wide opt-outs.
    const selection = { ...target, senderAddress: this.directory.senderByAddress(input.from)?.address };
    const rules: CampaignRules = {
      template,
      marketing: input.type === 'marketing',
      override: input.quiet_hours,
      allowLong: input.allow_long,
      carrierOf: (e164) => this.directory.carrierOf(e164),
      refuseDestination: destinationRule(
        destinationPolicy((await this.limits.of(ws.id)).allowed_countries, this.blockedPrefixes),
      ),
    };
    // The wait depends only on the zone and the window: a handful of distinct values per campaign.
    const waits = new Map<string, number>();
    for await (const page of this.repo.recipientPages(selection, 0, PLAN_PAGE)) {
      for (const v of verdictsFor(page.recipients, rules)) {
        if (!v.ok) {
          if (v.reason === 'missing_variables')
            for (const name of v.missing!) missing.set(name, (missing.get(name) ?? 0) + 1);
          else acc.exclude(v.reason);
          continue;
        }
        const m = v.message;
        const key = `${m.timezone}|${m.window?.start}|${m.window?.end}`;
        let wait = waits.get(key);
        if (wait === undefined) waits.set(key, (wait = quietWait(startsAt, m.timezone, m.window)));
        acc.add({
          segments: m.segments,
          encoding: m.encoding,
          carrierId: v.carrierId,
          heldByQuietHours: wait > 0,
          waitSeconds: wait,
        });
      }
    }
    if (missing.size) {
      const lacking = Object.fromEntries(missing);
      throw new ApiError(
        HttpStatus.BAD_REQUEST,
        'template_variables_missing',
        `body: ${[...missing].map(([v, n]) => `{{${v}}} is missing for ${n} recipient${n === 1 ? '' : 's'}`).join('; ')} (add a fallback such as {{${[...missing.keys()][0]}|there}})`,
        { field: 'body', missing: lacking },
      );
    }
    const plan = acc.finish(
      this.directory.carriers().map((c) => ({ id: c.id, segmentsPerSecond: c.segments_per_second })),
      startsAt,
      input.max_segments_per_second,
      undefined,
      (cap) => pacedRate(cap, this.config.env.PARLEY_CARRIER_JITTER_MS),
    );
    const row = await this.repo.insert({
      workspaceId: ws.id,
      name: input.name,
      audienceId: target.audienceId,
      segmentId: input.segment_id ?? null,
      from: input.from,
      body: input.body,
      type: input.type,
      scheduleAt,
      quietHours: input.quiet_hours ?? null,
      validitySeconds: input.validity_seconds ?? null,
      maxSegmentsPerSecond: input.max_segments_per_second ?? null,
      weight: input.weight,
      replyHandlers: input.reply_handlers,
      statusCallback: input.status_callback ?? null,
      plan: { ...plan, allow_long: input.allow_long ?? false },
      recipients: plan.recipients,
      excluded: plan.excluded.total,
    });
    return this.present(row);
  }

  async launch(ws: Workspace, id: string) {
    const c = await this.mustGet(ws, id);
    const reserved = await this.reserveBudget(ws, c);
    try {
      return await this.start(ws, c);
    } catch (err) {
      await this.budget.refund(ws.id, reserved);
      throw err;
    }
  }

  /**
   * The plan's segments taken from today's segment budget (a scheduled campaign's too, at launch);
   * 409 naming the figures when they exceed what is left. Returns the segments reserved.
   */
  private async reserveBudget(ws: Workspace, c: CampaignRow): Promise<number> {
    const budget = (await this.limits.of(ws.id)).daily_segment_budget;
    if (budget === null || c.status !== 'draft') return 0;
    const segments = (c.plan as { segments_total?: number }).segments_total ?? 0;
    if (segments === 0) return 0;
    const { admitted, used = 0 } = await this.budget.admit(ws.id, budget, [segments]);
    if (admitted === 1) return segments;
    const remaining = Math.max(budget - used, 0);
    throw ApiError.conflict(
      `the campaign's plan needs ${segments} segments but only ${remaining} of the workspace's daily budget of ${budget} remain today (UTC; ${used} used)`,
      'daily_budget_insufficient',
      { segments, remaining, budget, used },
    );
  }

  private async start(ws: Workspace, c: CampaignRow) {
    const id = c.id;
    if (c.schedule_at && c.schedule_at.getTime() > Date.now() && c.status === 'draft') {
      const moved = await this.repo.transition(ws.id, id, 'schedule');
      if (!moved) throw this.badState(c, 'launch');
      await this.queue.add(
        'expand',
        { campaignId: id },
        { jobId: `expand-${id}-scheduled`, delay: c.schedule_at.getTime() - Date.now() },
      );
      return this.present(moved);
    }
    const moved = await this.repo.transition(ws.id, id, 'launch');
    if (!moved) throw this.badState(c, 'launch');
    await this.enqueueExpansion(id);
    return this.present(moved);
  }

  async pause(ws: Workspace, id: string) {
    const c = await this.mustGet(ws, id);
    const moved = await this.repo.transition(ws.id, id, 'pause');
    if (!moved) throw this.badState(c, 'pause');
    this.byStatus.forget(id);
    return this.present(moved);
  }

  async resume(ws: Workspace, id: string) {
    const c = await this.mustGet(ws, id);
    const moved = await this.repo.transition(ws.id, id, 'resume');
    if (!moved) throw this.badState(c, 'resume');
    this.byStatus.forget(id);
    // Expansion continues from its checkpoint (a finished expansion has nothing left to do).
    if (!moved.expanded_at) await this.enqueueExpansion(id);
    return this.present(moved);
  }

  async cancel(ws: Workspace, id: string) {
    const c = await this.mustGet(ws, id);
    const moved = await this.repo.transition(ws.id, id, 'cancel');
    if (!moved) throw this.badState(c, 'cancel');
    this.byStatus.forget(id);
    const canceled = await this.repo.cancelPending(id);
    return { ...(await this.present(moved)), canceled_messages: canceled };
  }

  async get(ws: Workspace, id: string) {
    let c = await this.mustGet(ws, id);
    const view = await this.present(c, true);
    // A running campaign whose expansion is done and whose every message has ended is complete.
    const s = (view as { stats: Awaited<ReturnType<CampaignService['stats']>> }).stats;
    const ended = s.delivered + s.undelivered + s.failed + s.expired + s.suppressed + s.canceled + s.rejected;
    if (c.status === 'running' && c.expanded_at && ended >= s.expanded) {
      c = (await this.repo.transition(ws.id, id, 'complete')) ?? c;
      return { ...view, status: c.status, completed_at: c.completed_at };
    }
    return view;
  }

  /** Newest first: a page of { data, next_cursor } (infra/http/pagination.ts), keyed by (created_at, id). */
  async list(ws: Workspace, q: { limit: number; cursor?: readonly [string, string] }) {
    const p = page(await this.repo.list(ws.id, keysetOf(q)), q.limit, (c) => [c.sort_at, c.id]);
    return { data: await Promise.all(p.data.map((c) => this.present(c))), next_cursor: p.next_cursor };
  }

  async enqueueExpansion(id: string) {
    await this.queue.add(
      'expand',
      { campaignId: id },
      { jobId: `expand-${id}-${Date.now()}`, attempts: 20, backoff: { type: 'exponential', delay: 1_000 } },
    );
  }

  private async present(c: CampaignRow, withStats = false) {
    const base = {
      id: c.id,
      name: c.name,
      status: c.status,
      type: c.type,
      audience_id: c.audience_id,
      segment_id: c.segment_id,
      from: c.from_address,
      body: c.body,
      schedule_at: c.schedule_at,
      quiet_hours: c.quiet_hours,
      validity_seconds: c.validity_seconds,
      max_segments_per_second: c.max_segments_per_second,
      weight: c.weight,
      reply_handlers: c.reply_handlers,
      status_callback: c.status_callback,
      plan: c.plan,
      created_at: c.created_at,
      launched_at: c.launched_at,
      expanded_at: c.expanded_at,
      canceled_at: c.canceled_at,
      completed_at: c.completed_at,
    };
    if (!withStats) return base;
    return { ...base, stats: await this.stats(c) };
  }

  async stats(c: CampaignRow) {
    const [byStatus, replies, recent] = await Promise.all([
      // Groups every message of the campaign (about a second for a million): reused for up to
      // 10 µs per message, so a small campaign's stats stay live and a million-message one's are
      // at most 10 s old however often it is polled. Commands forget it (see pause/resume/cancel).
      this.byStatus.get(c.id, Math.min(STATS_MAX_AGE_MS, c.expanded / 100), () =>
        this.messages.statsByCampaign(c.id, c.workspace_id),
      ),
      this.replies.responseCounts(c.id),
      this.repo.submittedSince(c.id, new Date(Date.now() - 10_000)),
    ]);
    const count = (...s: string[]) =>
      byStatus.filter((b) => s.includes(b.status)).reduce((a, b) => a + b.messages, 0);
    // A campaign message has a row once a dispatcher takes it: what was expanded and has none yet is
    // still on the bulk topic (queued), or, once the campaign is canceled, canceled (the dispatcher
    // records it so as it drains the topic).
    const recorded = byStatus.reduce((a, b) => a + b.messages, 0);
    const onTopic = Math.max(0, c.expanded - recorded);
    const canceled = c.status === 'canceled';
    return {
      recipients: c.recipients,
      excluded: c.excluded,
      expanded: c.expanded,
      // Taken by a dispatcher but not yet handed to the carrier still counts as queued.
      queued: count('accepted', 'queued', 'submitting') + (canceled ? 0 : onTopic),
      submitted: count('submitted', 'sent', 'delivered', 'undelivered', 'expired'),
      delivered: count('delivered'),
      undelivered: count('undelivered'),
      failed: count('failed'),
      expired: count('expired'),
      suppressed: count('suppressed'),
      canceled: count('canceled') + (canceled ? onTopic : 0),
      rejected: count('rejected'),
      // The carrier may have them: their submit answer was lost and no receipt could be tied.
      unknown: count('unknown'),
      replies: replies.replies,
      replies_by_intent: replies.by_intent,
      opt_outs: replies.opt_outs,
      confirmed: replies.confirmed,
      declined: replies.declined,
      segments: byStatus.reduce((a, b) => a + b.segments, 0),
      current_rate: { messages_per_second: recent.messages / 10, segments_per_second: recent.segments / 10 },
    };
  }

  private async mustGet(ws: Workspace, id: string): Promise<CampaignRow> {
    const c = isUuid(id) ? await this.repo.get(ws.id, id) : undefined;
    if (!c) throw ApiError.notFound('campaign', id);
    return c;
  }

  private badState(c: CampaignRow, command: string) {
    return ApiError.conflict(
      `campaign ${c.id} is ${c.status}; it cannot ${command}`,
      'invalid_campaign_state',
      { status: c.status },
    );
  }

  /** Whom a new campaign walks; a 400 naming the field when its audience or segment is not there. */
  private async target(
    workspaceId: string,
    audienceId: string,
    segmentId?: string,
  ): Promise<RecipientSelection> {
    if (segmentId) {
      const seg = await this.repo.segmentOf(workspaceId, segmentId);
      if (!seg)
        throw ApiError.validation([{ path: 'segment_id', message: `segment ${segmentId} not found` }]);
      if (seg.audience_id !== audienceId) {
        throw ApiError.validation([
          { path: 'segment_id', message: `segment ${segmentId} belongs to another audience` },
        ]);
      }
      return { workspaceId, audienceId, filter: parseFilter(seg.filter) };
    }
    if (!(await this.repo.audienceExists(workspaceId, audienceId))) {
      throw ApiError.validation([{ path: 'audience_id', message: `audience ${audienceId} not found` }]);
    }
    return { workspaceId, audienceId };
  }
}
