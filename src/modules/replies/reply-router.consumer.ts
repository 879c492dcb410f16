// The reply router (router role): every inbound message on sms.inbound is classified, matched to
// the latest message Parley sent that customer from that sender, and acted on — opt-outs first and
// committed before anything else for that number, then opt-ins, HELP, the campaign's reply
// handlers, webhooks and the inbox. A batch's offsets are resolved only after its outcome is stored.
import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Histogram, Counter } from 'prom-client';
import { ConfigService } from '../../config/config.service';
import { BatchContext, ConsumerHost } from '../../infra/kafka/consumer-host';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { replyHandlersSchema } from '../campaigns/reply-handlers';
import { renderTemplate } from '../campaigns/template';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { OptOutLedger } from '../consent/opt-out-ledger.service';
import { deterministicId } from '../messages/deterministic-id';
import type { InboundEnvelope } from '../messages/message.types';
import { MessagesService } from '../messages/messages.service';
import { WorkspaceRepository } from '../workspaces/workspace.repository';
import { ResolvedSettings, WorkspaceSettings, resolveSettings } from '../workspaces/workspace-settings';
import { classifyReply } from './classifier';
import { Decision, decide } from './reply-decision';
import { InboundRow, RepliesRepository, ThreadMatch } from './replies.repository';
import { ReplyWebhooks } from './reply-webhooks.service';

const LOOP_GUARD_MS = 60 * 60 * 1000;

interface Routed {
  env: InboundEnvelope;
  workspaceId: string | null;
  match?: ThreadMatch;
  decision?: Decision;
  classification: ReturnType<typeof classifyReply>;
}

@Injectable()
export class ReplyRouter implements OnApplicationBootstrap {
  private readonly inboundCount: Counter<'connector'>;
  private readonly byIntent: Counter<'intent'>;
  private readonly optOutLatency: Histogram<string>;

  constructor(
    private readonly config: ConfigService,
    private readonly host: ConsumerHost,
    private readonly repo: RepliesRepository,
    private readonly ledger: OptOutLedger,
    private readonly messages: MessagesService,
    private readonly workspaces: WorkspaceRepository,
    private readonly directory: CarrierDirectory,
    private readonly webhooks: ReplyWebhooks,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.inboundCount = metrics.counter(
      METRICS.inbound.name,
      'Inbound messages received.',
      METRICS.inbound.labels,
    );
    this.byIntent = metrics.counter(
      METRICS.repliesByIntent.name,
      'Replies routed, by intent.',
      METRICS.repliesByIntent.labels,
    );
    this.optOutLatency = metrics.histogram(
      METRICS.optOutCommitLatency.name,
      'From an inbound STOP received to the opt-out committed in the ledger.',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    );
  }

  onApplicationBootstrap() {
    if (!this.config.hasRole('router')) return;
    // Not awaited: the engine starts (and reports not ready) while Kafka is away.
    this.host
      .start({
        groupId: 'parley-router',
        topics: ['sms.inbound'],
        partitionsConsumedConcurrently: 3,
        handle: (batch) => this.handleBatch(batch),
      })
      .catch((err) => this.log.error({ err }, 'reply router did not start'));
  }

  async handleBatch(batch: BatchContext): Promise<void> {
    const envs: InboundEnvelope[] = [];
    for (const m of batch.messages) {
      try {
        const e = JSON.parse(m.value?.toString() ?? '') as InboundEnvelope;
        if (!e.id || !e.from || !e.to || typeof e.body !== 'string')
          throw new Error('missing id, from, to or body');
        envs.push(e);
      } catch (err) {
        this.log.error(
          { err, offset: m.offset, partition: batch.partition },
          'dropping malformed inbound record',
        );
      }
    }
    if (envs.length) await this.route(envs);
    const last = batch.messages[batch.messages.length - 1];
    if (last) batch.resolveOffset(last.offset);
    await batch.heartbeat();
  }

  /** Routes a batch of inbound messages; in arrival order per number (one partition per number). */
  async route(envs: InboundEnvelope[]): Promise<void> {
    const now = new Date();
    for (const e of envs) this.inboundCount.inc({ connector: e.connectorId });

    const windowSince = new Date(now.getTime() - this.maxWindowHours() * 3600_000);
    const pairs = envs.map((e) => ({ from: e.from, to: e.to }));
    const matches = new Map(
      (await this.repo.latestOutboundMany(pairs, windowSince)).map((m) => [`${m.from}|${m.to}`, m]),
    );
    // No message within the window: the workspace still owns the number's consent, so find the
    // latest message ever (or the sender's only workspace) to know whose STOP this is.
    const unmatched = pairs.filter((p) => !matches.has(`${p.from}|${p.to}`));
    // Any message in any state counts here: a STOP may come before its number's message left.
    const older = new Map(
      (await this.repo.latestOutboundMany(unmatched, new Date(0), { anyStatus: true })).map((m) => [
        `${m.from}|${m.to}`,
        m,
      ]),
    );

    const settingsCache = new Map<string, ResolvedSettings>();
    const settingsOf = async (wsId: string) => {
      let s = settingsCache.get(wsId);
      if (!s) {
        const ws = await this.workspaces.findById(wsId);
        s = resolveSettings(
          ws?.name ?? 'Parley',
          (await this.workspaces.settings(wsId)) as WorkspaceSettings,
        );
        settingsCache.set(wsId, s);
      }
      return s;
    };

    const routed: Routed[] = [];
    for (const env of envs) {
      const key = `${env.from}|${env.to}`;
      let match = matches.get(key);
      let workspaceId =
        match?.workspaceId ?? older.get(key)?.workspaceId ?? (await this.senderWorkspace(env.to));
      const settings = workspaceId ? await settingsOf(workspaceId) : undefined;
      if (
        match &&
        settings &&
        match.acceptedAt.getTime() < now.getTime() - settings.reply_window_hours * 3600_000
      ) {
        match = undefined; // outside this workspace's own window
      }
      const classification = classifyReply(env.body, { keywords: settings?.keywords });
      if (!workspaceId && classification.intent === 'opt_out') {
        // Never texted from this sender, but a contact somewhere: STOP wins in every workspace
        // that holds the number (the first one answers).
        const holders = await this.repo.workspacesWithContact(env.from);
        for (const other of holders.slice(1)) {
          await this.ledger.recordOptOut({
            workspaceId: other,
            e164: env.from,
            scope: 'workspace',
            source: 'sms',
            evidence: `"${env.body.slice(0, 160)}" to ${env.to} (inbound ${env.id})`,
            at: new Date(env.receivedAt),
          });
        }
        workspaceId = holders[0];
      }
      workspaceId = workspaceId ?? null;
      routed.push({ env, workspaceId, match, classification });
    }

    // The consent state of every (workspace, sender) group in one query each.
    const states = new Map<string, boolean>();
    const groups = new Map<string, { ws: string; sender: string; numbers: string[] }>();
    for (const r of routed) {
      if (!r.workspaceId) continue;
      const g = groups.get(`${r.workspaceId}|${r.env.to}`) ?? {
        ws: r.workspaceId,
        sender: r.env.to,
        numbers: [],
      };
      g.numbers.push(r.env.from);
      groups.set(`${r.workspaceId}|${r.env.to}`, g);
    }
    const recentByWs = new Map<string, Map<string, number>>();
    const loopSince = new Date(now.getTime() - LOOP_GUARD_MS);
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const sup = await this.ledger.suppressedAmong(g.ws, g.numbers, g.sender);
        for (const n of g.numbers) states.set(`${g.ws}|${n}|${g.sender}`, sup.has(n));
      }),
    );
    const byWs = new Map<string, string[]>();
    for (const g of groups.values()) byWs.set(g.ws, [...(byWs.get(g.ws) ?? []), ...g.numbers]);
    await Promise.all(
      [...byWs].map(async ([ws, numbers]) =>
        recentByWs.set(ws, await this.repo.autoRepliesSince(ws, [...new Set(numbers)], loopSince)),
      ),
    );

    const handlerCampaigns = [
      ...new Set(routed.map((r) => r.match?.campaignId).filter((x): x is string => !!x)),
    ];
    const campaigns = await this.repo.campaignsHandlers(handlerCampaigns);

    for (const r of routed) {
      if (!r.workspaceId) continue;
      const settings = await settingsOf(r.workspaceId);
      const stateKey = `${r.workspaceId}|${r.env.from}|${r.env.to}`;
      const optedOut = states.get(stateKey) ?? false;
      const handlersRaw = r.match?.campaignId ? (campaigns.get(r.match.campaignId)?.handlers ?? []) : [];
      const handlers = replyHandlersSchema.safeParse(handlersRaw);
      const recent = recentByWs.get(r.workspaceId) ?? new Map<string, number>();
      r.decision = decide({
        classification: r.classification,
        text: r.env.body,
        optedOut,
        matched: r.match
          ? {
              campaignId: r.match.campaignId,
              type: r.match.type,
              hasOrderContext: Object.keys(r.match.metadata).some((k) =>
                /order|tracking|eta|shipment|delivery/i.test(k),
              ),
            }
          : undefined,
        handlers: handlers.success ? handlers.data : [],
        settings,
        recentAutoReplies: recent.get(r.env.from) ?? 0,
      });
      for (const a of r.decision.actions) {
        if (a.kind === 'opt_out') {
          await this.ledger.recordOptOut({
            workspaceId: r.workspaceId,
            e164: r.env.from,
            scope: a.scope,
            senderAddress: r.env.to,
            source: 'sms',
            evidence: `"${r.env.body.slice(0, 160)}" to ${r.env.to} (inbound ${r.env.id})`,
            at: new Date(r.env.receivedAt),
          });
          this.optOutLatency.observe(Math.max(0, Date.now() - r.env.receivedAt) / 1000);
          states.set(stateKey, true);
        } else if (a.kind === 'opt_in') {
          await this.ledger.recordOptIn({
            workspaceId: r.workspaceId,
            e164: r.env.from,
            source: 'sms',
            evidence: `"${r.env.body.slice(0, 160)}" to ${r.env.to} (inbound ${r.env.id})`,
            at: new Date(r.env.receivedAt),
          });
          states.set(stateKey, false);
        }
      }
      this.byIntent.inc({ intent: r.decision.intent });
    }

    // Stored before side effects leave the building, so a redelivered batch is recognised.
    const rows: InboundRow[] = routed.map((r) => ({
      id: r.env.id,
      workspaceId: r.workspaceId,
      connectorId: r.env.connectorId,
      from: r.env.from,
      to: r.env.to,
      body: r.env.body,
      carrierMessageId: r.env.carrierMessageId ?? null,
      receivedAt: new Date(r.env.receivedAt),
      intent: r.decision?.intent ?? r.classification.intent,
      keyword: r.classification.keyword ?? null,
      language: r.classification.language,
      confidence: r.classification.confidence,
      matchedMessageId: r.match?.messageId ?? null,
      campaignId: r.match?.campaignId ?? null,
      actions: r.decision?.actions.map((a) => a.kind) ?? ['unrouted'],
    }));
    await this.repo.insertInbound(rows);
    for (const r of routed) {
      if (!r.workspaceId)
        this.log.warn({ inbound: r.env.id, to: r.env.to }, 'inbound message matches no workspace');
    }

    await this.carryOut(routed.filter((r) => r.workspaceId && r.decision));
  }

  private async carryOut(routed: Routed[]): Promise<void> {
    const responses: Parameters<RepliesRepository['recordResponses']>[0] = [];
    const inbox: Parameters<RepliesRepository['insertInboxItems']>[0] = [];
    const byWorkspace = new Map<
      string,
      { inputs: unknown[]; ids: string[]; optOutConfirmation: boolean[] }
    >();

    for (const r of routed) {
      const ws = r.workspaceId!;
      const context = this.contextOf(r);
      for (const a of r.decision!.actions) {
        if (a.kind === 'record' && r.match?.campaignId) {
          responses.push({
            workspaceId: ws,
            campaignId: r.match.campaignId,
            messageId: r.match.messageId,
            e164: r.env.from,
            kind: a.value === 'confirmation' ? 'confirmed' : 'declined',
            inboundId: r.env.id,
            at: new Date(r.env.receivedAt),
          });
        } else if (a.kind === 'inbox') {
          inbox.push({
            workspaceId: ws,
            inboundId: r.env.id,
            customer: r.env.from,
            sender: r.env.to,
            campaignId: r.match?.campaignId ?? null,
            messageId: r.match?.messageId ?? null,
            intent: r.decision!.intent,
            body: r.env.body,
            context,
          });
        } else if (a.kind === 'auto_reply') {
          const text = renderTemplate(a.template, { ...(r.match?.metadata ?? {}) }).text.trim();
          if (!text) continue;
          const group = byWorkspace.get(ws) ?? { inputs: [], ids: [], optOutConfirmation: [] };
          // One auto-reply per inbound message, even if this batch is delivered again.
          group.ids.push(deterministicId('auto-reply', r.env.id));
          group.inputs.push({
            to: r.env.from,
            from: r.env.to,
            body: text,
            metadata: { in_reply_to: r.env.id, purpose: a.purpose },
          });
          group.optOutConfirmation.push(a.purpose === 'opt_out_confirmation');
          byWorkspace.set(ws, group);
        } else if (a.kind === 'webhook') {
          await this.webhooks.enqueue(ws, a.url, {
            type: 'reply.received',
            reply: {
              id: r.env.id,
              from: r.env.from,
              to: r.env.to,
              body: r.env.body,
              received_at: new Date(r.env.receivedAt).toISOString(),
              intent: r.decision!.intent,
              keyword: r.classification.keyword ?? null,
              language: r.classification.language,
            },
            ...context,
          });
        }
      }
    }
    await this.repo.recordResponses(responses);
    await this.repo.insertInboxItems(inbox);
    for (const [wsId, g] of byWorkspace) {
      const ws = await this.workspaces.findById(wsId);
      if (!ws) continue;
      const outcomes = await this.messages.accept(ws, g.inputs, {
        autoReply: true,
        ids: g.ids,
        optOutConfirmation: g.optOutConfirmation,
      });
      outcomes.forEach((o, i) => {
        if (!o.ok) this.log.warn({ err: o.error.getResponse(), id: g.ids[i] }, 'auto-reply refused');
      });
    }
  }

  private contextOf(r: Routed): Record<string, unknown> {
    if (!r.match) return { matched: null };
    return {
      matched: {
        message_id: r.match.messageId,
        campaign_id: r.match.campaignId,
        type: r.match.type,
        sent_at: r.match.acceptedAt.toISOString(),
        metadata: r.match.metadata,
      },
      ...(r.match.metadata && Object.keys(r.match.metadata).length ? { order: r.match.metadata } : {}),
    };
  }

  private maxWindowHours(): number {
    // Workspaces may widen their window up to 30 days; the per-workspace window is applied after.
    return 24 * 30;
  }

  private wsByName = new Map<string, string | null>();
  private async senderWorkspace(address: string): Promise<string | null> {
    const sender = this.directory.senderByAddress(address);
    if (!sender || sender.workspaces.length !== 1) return null;
    const name = sender.workspaces[0];
    if (!this.wsByName.has(name))
      this.wsByName.set(name, (await this.workspaces.findByName(name))?.id ?? null);
    return this.wsByName.get(name) ?? null;
  }
}
