// The reply router (router role): every inbound message on sms.inbound is classified, matched to
// the latest message Parley sent that customer from that sender, and acted on — opt-outs first and
// committed before anything else for that number, then opt-ins, HELP, the campaign's reply
// handlers, webhooks and the inbox. A batch's offsets are resolved only after its outcome is stored.
import { BeforeApplicationShutdown, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Histogram, Counter } from 'prom-client';
import { ConfigService } from '../../config/config.service';
import { CoalescedLookup } from '../../infra/batching/coalesced-lookup';
import type { KafkaMessage } from 'kafkajs';
import { BatchContext, ConsumerHost } from '../../infra/kafka/consumer-host';
import { DeadLetter, DeadLetters } from '../../infra/kafka/dead-letters';
import { isTransient, isolatePoison, reasonOf } from '../../infra/kafka/poison';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { replyHandlersSchema } from './reply-handlers';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { ConsentChange, OptOutLedger } from '../consent/opt-out-ledger.service';
import { type InboundEnvelope, readInboundRecord } from '../carriers/inbound-envelope';
import { WorkspaceRepository } from '../workspaces/workspace.repository';
import { ResolvedSettings, WorkspaceSettings, resolveSettings } from '../workspaces/workspace-settings';
import { ReplyClassification, classifyReply } from './classifier';
import { Routed, followUpsOf, revive } from './follow-ups';
import { optOutsFirst } from './opt-outs-first';
import { decide } from './reply-decision';
import { InboundRow, RepliesRepository } from './replies.repository';
import { ReplyActions } from './reply-actions.service';

const LOOP_GUARD_MS = 60 * 60 * 1000;
/** Batches of one partition whose follow-ups may still be running while the next one commits. */
const MAX_TRAILING_BATCHES = 8;
/** Follow-ups older than this with nobody finishing them are picked up by the sweep. */
const SWEEP_AFTER_MS = 30_000;
const SWEEP_EVERY_MS = 15_000;
const SWEEP_CHUNK = 500;

/** A consent change of the batch, with the inbound message it comes from. */
type BatchConsentChange = ConsentChange & { inboundId: string; receivedAt: number };

@Injectable()
export class ReplyRouter implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly inboundCount: Counter<'connector'>;
  /** Per partition: the follow-ups still running behind its commits. */
  private readonly trails = new Map<string, { tail: Promise<void>; batches: number }>();
  private sweepTimer?: NodeJS.Timeout;
  private sweeping = false;
  private readonly byIntent: Counter<'intent'>;
  private readonly optOutLatency: Histogram<string>;
  /**
   * The batches of every partition of a fetch, committed together: kafkajs hands them over at
   * once (partitionsConsumedConcurrently) and fetches again only when all are handled, so one
   * decision and two transactions for all of them (a number's messages are all in one partition,
   * in order) keep every STOP from waiting behind a dozen transactions competing for Postgres.
   */
  private readonly combined = new CoalescedLookup<InboundEnvelope, Routed[]>((envs) => this.commit(envs), {
    none: () => [],
  });

  constructor(
    private readonly config: ConfigService,
    private readonly host: ConsumerHost,
    private readonly repo: RepliesRepository,
    private readonly ledger: OptOutLedger,
    private readonly workspaces: WorkspaceRepository,
    private readonly directory: CarrierDirectory,
    private readonly actions: ReplyActions,
    private readonly deadLetters: DeadLetters,
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
    this.sweepTimer = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweepTimer.unref();
    // Not awaited: the engine starts (and reports not ready) while Kafka is away.
    this.host
      .start({
        groupId: 'parley-router',
        topics: ['sms.inbound'],
        // Every partition of a fetch at once: kafkajs fetches again only when all of the previous
        // fetch's batches are handled, so batches taken in turns make every STOP wait for them all.
        partitionsConsumedConcurrently: this.config.env.KAFKA_PARTITIONS,
        handle: (batch) => this.handleBatch(batch),
      })
      .catch((err) => this.log.error({ err }, 'reply router did not start'));
  }

  async handleBatch(batch: BatchContext): Promise<void> {
    const envs: InboundEnvelope[] = [];
    const recordOf = new Map<string, KafkaMessage>();
    const malformed: DeadLetter[] = [];
    for (const m of batch.messages) {
      const r = readInboundRecord(m.value);
      if (r.ok) {
        envs.push(r.envelope);
        recordOf.set(r.envelope.id, m);
      } else malformed.push(this.letterOf(batch, m, r.reason, 'malformed'));
    }
    if (malformed.length) {
      this.log.error(
        { partition: batch.partition, records: malformed.length },
        'malformed inbound records dead-lettered',
      );
      await this.deadLetters.send('sms.inbound.dlq', malformed);
    }
    // Follow-ups may trail this partition's commits by a few batches, no more (backpressure).
    const key = `${batch.topic}:${batch.partition}`;
    const trail = this.trails.get(key) ?? { tail: Promise.resolve(), batches: 0 };
    this.trails.set(key, trail);
    while (trail.batches >= MAX_TRAILING_BATCHES) await trail.tail;
    let todo: Routed[] = [];
    if (envs.length) {
      const mine = new Set(envs.map((e) => e.id));
      try {
        todo = (await this.combined.check(envs)).found.filter((r) => mine.has(r.env.id));
      } catch (err) {
        if (isTransient(err)) throw err;
        // Something in the fetch could not be committed: this partition's messages are committed
        // one by one (opt-outs first, as always), and one that keeps failing is dead-lettered.
        todo = await this.commitAlone(batch, envs, recordOf);
      }
    }
    // Committed, follow-ups included: what is left no longer needs this batch's records.
    const last = batch.messages[batch.messages.length - 1];
    if (last) batch.resolveOffset(last.offset);
    await batch.heartbeat();
    if (!todo.length) return;
    // In order per partition, so one number's follow-ups (a YES then a NO) keep their order.
    trail.batches++;
    trail.tail = trail.tail
      .then(() => this.finish(todo))
      .catch((err) =>
        this.log.error(
          { err, partition: batch.partition },
          'reply follow-ups failed; the sweep retries them',
        ),
      )
      .finally(() => trail.batches--);
  }

  /**
   * Commits a partition's messages one at a time, in arrival order, setting aside (dead-letter
   * topic, with the reason) any that still fails after a few tries, so the messages behind it,
   * and every STOP among them, are committed.
   */
  private async commitAlone(
    batch: BatchContext,
    envs: InboundEnvelope[],
    recordOf: Map<string, KafkaMessage>,
  ): Promise<Routed[]> {
    const todo: Routed[] = [];
    // Opt-outs first, as in a combined commit: a STOP never waits behind its neighbours' retries.
    const ordered = optOutsFirst(envs, (e) => classifyReply(e.body).intent === 'opt_out').flat();
    await isolatePoison(ordered, async (one) => void todo.push(...(await this.commit(one))), {
      oneByOne: true,
      attempts: this.config.env.PARLEY_POISON_ATTEMPTS,
      backoffMs: 100,
      poisoned: async (env, err) => {
        this.log.error({ err, inbound: env.id, partition: batch.partition }, 'inbound message dead-lettered');
        await this.deadLetters.send('sms.inbound.dlq', [
          this.letterOf(batch, recordOf.get(env.id)!, reasonOf(err), 'poison'),
        ]);
      },
    });
    return todo;
  }

  private letterOf(batch: BatchContext, m: KafkaMessage, reason: string, label: string): DeadLetter {
    return {
      source: { topic: batch.topic, partition: batch.partition, offset: m.offset },
      key: m.key?.toString('utf8') ?? null,
      value: m.value?.toString('utf8') ?? null,
      reason,
      label,
    };
  }

  /** Routes a batch and waits for its follow-ups (the consumer lets them trail; see handleBatch). */
  async route(input: InboundEnvelope[]): Promise<void> {
    await this.finish(await this.commit(input));
  }

  /** Carries out follow-ups and marks them done. */
  private async finish(todo: Routed[]): Promise<void> {
    if (!todo.length) return;
    await this.actions.carryOut(todo);
    await this.repo.followUpsDone(todo.map((r) => r.env.id));
  }

  /**
   * Follow-ups left undone by a process that stopped (or a batch whose follow-ups failed) after
   * their commit, oldest first; carried out again, which is safe: each is idempotent by inbound id.
   */
  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (;;) {
        const left = await this.repo.unfinishedBefore(new Date(Date.now() - SWEEP_AFTER_MS), SWEEP_CHUNK);
        if (!left.length) break;
        await this.finish(left.map(revive));
        if (left.length < SWEEP_CHUNK) break;
      }
    } catch (err) {
      this.log.warn({ err }, 'reply follow-up sweep failed; trying again later');
    } finally {
      this.sweeping = false;
    }
  }

  async beforeApplicationShutdown() {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all([...this.trails.values()].map((t) => t.tail));
  }

  /**
   * Decides a batch of inbound messages, in arrival order per number (one partition per number),
   * and commits their rows with their consent changes before anything else happens (STOP wins: a
   * later send's opt-out check sees the commit): first the messages of the numbers with an opt-out
   * in the batch, in one small transaction, then the others in a second, so a STOP does not wait
   * for the whole batch to be decided and written. Both are committed when this returns (the
   * offsets follow). Returns the follow-ups (auto-replies, webhooks, the inbox, recorded
   * responses), stored with their rows. An MO already stored (the carrier offered it again, Kafka
   * delivered the batch again) is not decided again; only follow-ups it left undone are returned.
   */
  private async commit(input: InboundEnvelope[]): Promise<Routed[]> {
    const now = new Date();
    for (const e of input) this.inboundCount.inc({ connector: e.connectorId });
    // The same MO twice in one batch (offered again quickly) is one message.
    const byId = new Map<string, InboundEnvelope>();
    for (const e of input) if (!byId.has(e.id)) byId.set(e.id, e);
    const stored = new Map((await this.repo.storedAmong([...byId.keys()])).map((p) => [p.id, p]));
    const envs = [...byId.values()].filter((e) => !stored.has(e.id));
    const unfinished = [...stored.values()].filter((p) => p.followUps != null).map(revive);

    // The built-in rules find every compliance opt-out; a workspace's own keywords can only add
    // some, whose numbers then simply commit with the second part.
    const builtIn = new Map(envs.map((e) => [e.id, classifyReply(e.body)]));
    const todo = [...unfinished];
    for (const part of optOutsFirst(envs, (e) => builtIn.get(e.id)!.intent === 'opt_out'))
      todo.push(...(await this.commitPart(part, now, builtIn)));
    return todo;
  }

  /** Decides new inbound messages (whole numbers, in arrival order) and commits them in one transaction. */
  private async commitPart(
    envs: InboundEnvelope[],
    now: Date,
    builtIn: Map<string, ReplyClassification>,
  ): Promise<Routed[]> {
    const routed = await this.decideAll(envs, now, builtIn);
    const rows: InboundRow[] = routed.routed.map((r) => ({
      id: r.env.id,
      workspaceId: r.workspaceId,
      connectorId: r.env.connectorId,
      from: r.env.from,
      to: r.env.to,
      body: r.env.body,
      bodyRaw: r.env.bodyRaw ?? null,
      carrierMessageId: r.env.carrierMessageId ?? null,
      receivedAt: new Date(r.env.receivedAt),
      intent: r.decision?.intent ?? r.classification.intent,
      keyword: r.classification.keyword ?? null,
      language: r.classification.language,
      confidence: r.classification.confidence,
      matchedMessageId: r.match?.messageId ?? null,
      campaignId: r.match?.campaignId ?? null,
      actions: r.decision?.actions.map((a) => a.kind) ?? ['unrouted'],
      followUps: followUpsOf(r),
    }));

    // Rows stored before side effects leave the building, in the consent changes' transaction, so
    // an MO is recognised when it comes again and its consent change is never recorded twice.
    let fresh = new Set<string>();
    if (rows.length) {
      const committed = await this.ledger.transaction(async (trx) => {
        fresh = await this.repo.insertInbound(rows, trx);
        const changes = routed.consent.filter((c) => fresh.has(c.inboundId));
        await this.ledger.recordMany(changes, trx);
        return changes;
      });
      this.ledger.counted(committed);
      const at = Date.now();
      for (const c of committed) {
        if (c.kind === 'opt_out') this.optOutLatency.observe(Math.max(0, at - c.receivedAt) / 1000);
      }
    }
    for (const r of routed.routed) {
      if (!fresh.has(r.env.id)) continue;
      this.byIntent.inc({ intent: r.decision?.intent ?? r.classification.intent });
      if (!r.workspaceId)
        this.log.warn({ inbound: r.env.id, to: r.env.to }, 'inbound message matches no workspace');
    }

    return routed.routed.filter((r) => fresh.has(r.env.id) && r.workspaceId && r.decision && followUpsOf(r));
  }

  /**
   * Classifies, matches and decides a batch of new inbound messages; writes nothing. `builtIn` holds
   * their classifications by the built-in rules alone, used as is where a workspace adds no keywords.
   */
  private async decideAll(
    envs: InboundEnvelope[],
    now: Date,
    builtIn: Map<string, ReplyClassification>,
  ): Promise<{ routed: Routed[]; consent: BatchConsentChange[] }> {
    const consent: BatchConsentChange[] = [];
    const evidenceOf = (env: InboundEnvelope) =>
      `"${env.body.slice(0, 160)}" to ${env.to} (inbound ${env.id})`;
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
        const [ws, raw] = await Promise.all([this.workspaces.findById(wsId), this.workspaces.settings(wsId)]);
        s = resolveSettings(ws?.name ?? 'Parley', raw as WorkspaceSettings);
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
      const classification = settings?.keywords
        ? classifyReply(env.body, { keywords: settings.keywords })
        : (builtIn.get(env.id) ?? classifyReply(env.body));
      if (!workspaceId && classification.intent === 'opt_out') {
        // Never texted from this sender, but a contact somewhere: STOP wins in every workspace
        // that holds the number (the first one answers).
        const holders = await this.repo.workspacesWithContact(env.from);
        for (const other of holders.slice(1)) {
          consent.push({
            kind: 'opt_out',
            inboundId: env.id,
            receivedAt: env.receivedAt,
            workspaceId: other,
            e164: env.from,
            scope: 'workspace',
            source: 'sms',
            evidence: evidenceOf(env),
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
    const byWs = new Map<string, string[]>();
    for (const g of groups.values()) byWs.set(g.ws, [...(byWs.get(g.ws) ?? []), ...g.numbers]);
    const handlerCampaigns = [
      ...new Set(routed.map((r) => r.match?.campaignId).filter((x): x is string => !!x)),
    ];
    const [, , campaigns] = await Promise.all([
      Promise.all(
        [...groups.values()].map(async (g) => {
          const sup = await this.ledger.suppressedAmong(g.ws, g.numbers, g.sender);
          for (const n of g.numbers) states.set(`${g.ws}|${n}|${g.sender}`, sup.has(n));
        }),
      ),
      Promise.all(
        [...byWs].map(async ([ws, numbers]) =>
          recentByWs.set(ws, await this.repo.autoRepliesSince(ws, [...new Set(numbers)], loopSince)),
        ),
      ),
      this.repo.campaignsHandlers(handlerCampaigns),
    ]);

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
        const base = {
          inboundId: r.env.id,
          receivedAt: r.env.receivedAt,
          workspaceId: r.workspaceId,
          e164: r.env.from,
          source: 'sms',
          evidence: evidenceOf(r.env),
          at: new Date(r.env.receivedAt),
        };
        // Later messages of the same number in this batch see the change (one partition per number).
        if (a.kind === 'opt_out') {
          consent.push({ ...base, kind: 'opt_out', scope: a.scope, senderAddress: r.env.to });
          states.set(stateKey, true);
        } else if (a.kind === 'opt_in') {
          consent.push({ ...base, kind: 'opt_in' });
          states.set(stateKey, false);
        }
      }
    }
    return { routed, consent };
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
