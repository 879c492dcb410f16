// Expansion: a launched campaign becomes messages, page by page of its recipients (keyset pages of
// contact ids), each message with an id derived from (campaign, contact) so a re-run page never
// produces a second message to anyone, produced to the bulk topic keyed by E.164. Nothing is
// written per recipient here: Kafka is the queue, and a message's row is written when a dispatcher
// takes it (its envelope carries everything the row needs).
// Pages are pipelined: the next page is read while this one is built, and a few built pages are
// stored and produced at once. The checkpoint (last contact id) still advances strictly in page
// order and only once a page is durable on the topic, so a crashed or retried job resumes where it
// stopped; pause and cancel are seen at every advance.
import { Injectable } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { deterministicId } from '../../infra/ids/deterministic-id';
import type { OutboundEnvelope } from '../messages/message.types';
import { WorkspaceRepository } from '../workspaces/workspace.repository';
import { SendingLimitsService } from '../workspaces/sending-limits.service';
import { destinationPolicy, destinationRule, parsePrefixList } from '../carriers/destination-policy';
import { ConfigService } from '../../config/config.service';
import { CampaignRepository, CampaignRow, RecipientPage } from './campaign.repository';
import { CampaignRules, verdictsFor } from './recipient-message';
import { compileTemplate } from '../templates/template';

/** One page is one produce call. */
export const EXPAND_PAGE = 5_000;
/** Pages stored and produced at once (the page after them is already being read). */
export const EXPAND_IN_FLIGHT = 3;
/** The first page is small: its messages start sending while the full-size pages are built. */
export const EXPAND_FIRST_PAGE = 500;

interface Built {
  page: RecipientPage;
  envelopes: { key: string; value: string }[];
}

@Injectable()
export class CampaignExpander {
  private readonly stage: Counter<'stage'>;
  /** PARLEY_BLOCKED_PREFIXES, read once. */
  private readonly blockedPrefixes: string[];
  pageSize = EXPAND_PAGE;
  inFlight = EXPAND_IN_FLIGHT;

  constructor(
    private readonly repo: CampaignRepository,
    private readonly directory: CarrierDirectory,
    private readonly kafka: KafkaService,
    private readonly workspaces: WorkspaceRepository,
    private readonly limits: SendingLimitsService,
    config: ConfigService,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.blockedPrefixes = parsePrefixList(config.env.PARLEY_BLOCKED_PREFIXES);
    this.stage = metrics.counter(
      METRICS.campaignMessages.name,
      'Campaign messages by stage.',
      METRICS.campaignMessages.labels,
    );
  }

  /** Expands until done, paused or canceled; returns what it did. Safe to run again at any point. */
  async expand(
    campaignId: string,
    onProgress?: (expanded: number) => Promise<void>,
  ): Promise<'done' | 'stopped' | 'missing'> {
    const c = await this.repo.get(undefined, campaignId);
    if (!c) return 'missing';
    if (c.status !== 'running') return 'stopped';
    const fixedSender = this.directory.senderByAddress(c.from_address);
    const selection = await this.repo.selectionOf(
      c.workspace_id,
      c.audience_id,
      c.segment_id,
      fixedSender?.address,
    );
    let checkpoint = c.checkpoint;
    if (!selection) {
      // The segment was deleted: nothing more can be read.
      await this.repo.markExpanded(c.id, checkpoint);
      return 'done';
    }
    const ws = (await this.workspaces.findById(c.workspace_id)) ?? { id: c.workspace_id, name: '' };
    const rules: CampaignRules = {
      template: compileTemplate(c.body),
      marketing: c.type === 'marketing',
      override: c.quiet_hours,
      allowLong: (c.plan as { allow_long?: boolean }).allow_long === true,
      carrierOf: (e164) => this.directory.carrierOf(e164),
      // Checked again here: the workspace's allowed countries may have changed since the plan.
      refuseDestination: destinationRule(
        destinationPolicy((await this.limits.of(c.workspace_id)).allowed_countries, this.blockedPrefixes),
      ),
    };
    const started = Date.now();
    let expanded = 0;
    // Milliseconds spent per stage (stores overlap, so their sum can exceed the wall time).
    const ms = { read: 0, build: 0, produce: 0, advance: 0 };
    // Pages being stored and produced, oldest first; each resolves to its row count.
    const pending: { page: RecipientPage; done: Promise<number> }[] = [];
    // Waits for the oldest page and moves the checkpoint past it; false: stop (paused, canceled,
    // or another run of this expansion moved the checkpoint first).
    const settleOldest = async (): Promise<boolean> => {
      const { page, done } = pending.shift()!;
      const n = await done;
      const to = String(page.lastId);
      const t = Date.now();
      const status = await this.repo.advance(c.id, checkpoint, to, n);
      ms.advance += Date.now() - t;
      if (!status) return false;
      checkpoint = to;
      expanded += n;
      this.stage.inc({ stage: 'expanded' }, n);
      await onProgress?.(n);
      return status === 'running';
    };
    const pages = this.repo.recipientPages(
      selection,
      Number(checkpoint ?? 0),
      this.pageSize,
      EXPAND_FIRST_PAGE,
    );
    try {
      while (true) {
        let t = Date.now();
        const next = await pages.next();
        ms.read += Date.now() - t;
        if (next.done) break;
        const page = next.value;
        t = Date.now();
        const built = await this.build(ws, c, page, rules);
        ms.build += Date.now() - t;
        const done = this.store(built, ms);
        // Handled here so a failure while later pages are read is not an unhandled rejection;
        // settleOldest still sees it.
        done.catch(() => undefined);
        pending.push({ page, done });
        if (pending.length >= this.inFlight && !(await settleOldest())) return 'stopped';
      }
      while (pending.length) if (!(await settleOldest())) return 'stopped';
    } finally {
      // A stop or failure leaves later pages unsettled: wait for them (they are idempotent, and
      // their checkpoint is not advanced) so none outlives this run half-done.
      await pages.return(undefined);
      await Promise.allSettled(pending.map((p) => p.done));
    }
    await this.repo.markExpanded(c.id, checkpoint);
    const seconds = (Date.now() - started) / 1000;
    this.log.info(
      { campaignId: c.id, expanded, seconds, perSecond: Math.round(expanded / Math.max(seconds, 0.001)), ms },
      'campaign expanded',
    );
    return 'done';
  }

  /** Envelopes of one page: the recipients the shared rules let through, with senders. */
  private async build(
    ws: { id: string; name: string },
    c: CampaignRow,
    page: RecipientPage,
    rules: CampaignRules,
  ): Promise<Built> {
    const acceptedAt = new Date();
    const acceptedMs = acceptedAt.getTime();
    const validUntil = c.validity_seconds ? new Date(acceptedMs + c.validity_seconds * 1000) : null;
    const sendable = [...verdictsFor(page.recipients, rules)].filter((v) => v.ok);
    // One Redis round trip for the page's sticky senders.
    const senders = await this.directory.resolveSenders(
      ws,
      c.from_address,
      sendable.map((v) => v.recipient.e164),
    );
    const envelopes: Built['envelopes'] = [];
    // What every envelope of the campaign shares, serialized once: each envelope is that prefix
    // and its own fields (JSON.stringify of the whole object per recipient was a fifth of the
    // expansion's CPU). Same fields and encoding as the OutboundEnvelope type below describes.
    const shared: Omit<OutboundEnvelope, 'id' | 'to' | 'from' | 'body' | 'encoding' | 'segments'> = {
      workspaceId: c.workspace_id,
      type: c.type,
      campaignId: c.id,
      ...(c.max_segments_per_second ? { campaignMaxSegmentsPerSecond: c.max_segments_per_second } : {}),
      ...(c.weight !== 1 ? { campaignWeight: c.weight } : {}),
      acceptedAt: acceptedMs,
      ...(validUntil ? { validUntil: validUntil.getTime() } : {}),
      ...(c.status_callback ? { statusCallback: c.status_callback } : {}),
    };
    const head = JSON.stringify(shared).slice(0, -1);
    for (const v of sendable) {
      if (!v.ok) continue;
      const { recipient: r, message: m } = v;
      const sender = senders.get(r.e164);
      if (!sender) continue;
      const id = deterministicId('campaign', c.id, String(r.id));
      const quietHours = m.timezone && m.window ? { ...m.window, timezone: m.timezone } : undefined;
      const value =
        `${head},"id":"${id}","to":${JSON.stringify(r.e164)},"from":${JSON.stringify(sender.address)}` +
        `,"body":${JSON.stringify(m.text)},"encoding":"${m.encoding}","segments":${m.segments}` +
        `${quietHours ? `,"quietHours":${JSON.stringify(quietHours)}` : ''}` +
        `,"metadata":{"contact_id":${JSON.stringify(r.id)}}}`;
      envelopes.push({ key: r.e164, value });
    }
    return { page, envelopes };
  }

  /** Produces a page; resolves to its message count once the broker has it. */
  private async store({ envelopes }: Built, ms: { produce: number }): Promise<number> {
    if (!envelopes.length) return 0;
    // A re-run page is produced again: the dispatcher's fence lets each id reach the carrier at
    // most once.
    const t = Date.now();
    await this.kafka.produce('sms.outbound', envelopes);
    ms.produce += Date.now() - t;
    return envelopes.length;
  }
}
