// Accepting transactional messages: validate each (number, sender, text, callback), store the
// accepted ones in one insert, put them on the priority topic in one produce, and answer only once
// both are durable. Used by the API, and by anything else that sends a transactional message
// (inbox replies) so every message is accepted the same way.
import { HttpStatus, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Counter, Histogram } from 'prom-client';
import type { z } from 'zod/v4';
import { ConfigService } from '../../config/config.service';
import { ApiError } from '../../infra/http/api-error';
import { issuesOf } from '../../infra/http/zod';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import type { CarrierConfig, SenderConfig } from '../carriers/carriers.config';
import {
  DestinationPolicy,
  destinationPolicy,
  parsePrefixList,
  refuseDestination,
} from '../carriers/destination-policy';
import { normalizePhone } from '../carriers/phone-number';
import { SendingLimits } from '../workspaces/workspace-settings';
import { SendingLimitsService } from '../workspaces/sending-limits.service';
import { analyzeText } from '../encoding';
// One URL rule for accepting and for sending callbacks (SSRF checks included).
import { checkCallbackUrl } from '../../infra/http/callback-url';
import {
  AcceptedMessage,
  MAX_METADATA_BYTES,
  MAX_PARTS,
  MAX_SEGMENTS,
  SendMessageInput,
  presentMessage,
  sendMessageSchema,
} from './message.dto';
import type { AcceptedRow } from './message-record';
import { MessageStatusRepository } from './message-status.repository';
import { MessageRepository } from './message.repository';
import type { OutboundEnvelope } from './message.types';
import { SegmentBudgetService } from './segment-budget.service';
import { isUuid } from '../../infra/ids/uuid';

export interface Issue {
  path: string;
  message: string;
  code?: string;
}

export interface AcceptOptions {
  /**
   * Auto-replies and confirmations: flagged so no auto-reply ever answers them. They answer a number
   * that texted in, so the SMS-pumping guards (countries, prefixes, budget) do not apply to them.
   */
  autoReply?: boolean;
  /**
   * Ids per input (same length), for senders that must not send twice when their own input is
   * redelivered (the router derives them from the inbound message). An id already stored is not
   * stored again; it is produced again, which is harmless: the dispatcher claims an id once.
   */
  ids?: readonly string[];
  /** Per input: this is the one confirmation allowed after STOP (the dispatcher lets it pass). */
  optOutConfirmation?: readonly boolean[];
}

/** One item's outcome: accepted (with what the API answers) or refused with the API error. */
export type AcceptOutcome = { ok: true; message: AcceptedMessage } | { ok: false; error: ApiError };

/** An item that passed the checks needing no round trip (its issues may still refuse it). */
interface Checked {
  m: SendMessageInput;
  to?: string;
  country?: string | null;
  carrier?: CarrierConfig;
  issues: Issue[];
}

interface Prepared {
  row: AcceptedRow;
  envelope: OutboundEnvelope;
  answer: AcceptedMessage;
}

@Injectable()
export class MessagesService {
  private readonly accepted: Counter<'type'>;
  private readonly stageSeconds: Histogram<'stage'>;
  private readonly blockedPrefixes: string[];

  constructor(
    private readonly repo: MessageRepository,
    private readonly statuses: MessageStatusRepository,
    private readonly directory: CarrierDirectory,
    private readonly kafka: KafkaService,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
    private readonly limits: SendingLimitsService,
    private readonly budget: SegmentBudgetService,
    metrics: MetricsService,
  ) {
    this.blockedPrefixes = parsePrefixList(config.env.PARLEY_BLOCKED_PREFIXES);
    this.accepted = metrics.counter(
      METRICS.messagesAccepted.name,
      'Messages accepted for sending (stored and on an outbound topic).',
      METRICS.messagesAccepted.labels,
    );
    this.stageSeconds = metrics.histogram(
      METRICS.acceptStage.name,
      'Seconds one accept call (a batch of up to 1,000) spends per stage: check, senders, insert, produce.',
      METRICS.acceptStage.labels,
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
  }

  /** Accepts one message or throws the API's 400 naming the field. */
  async acceptOne(workspace: { id: string; name: string }, input: unknown): Promise<AcceptedMessage> {
    const [outcome] = await this.accept(workspace, [input]);
    if (!outcome.ok) throw outcome.error;
    return outcome.message;
  }

  /**
   * Validates every item, stores the valid ones in one insert and produces them in one batch
   * (in item order, so messages to one number keep their order). Returns one outcome per item.
   * A batch costs a fixed number of round trips whatever its size: one Redis pipeline per distinct
   * `from` (sticky senders), one insert, one produce.
   */
  async accept(
    workspace: { id: string; name: string },
    inputs: readonly unknown[],
    opts: AcceptOptions = {},
  ): Promise<AcceptOutcome[]> {
    if (opts.ids && opts.ids.length !== inputs.length) {
      throw new Error(`accept: ${opts.ids.length} ids given for ${inputs.length} messages`);
    }
    const t0 = performance.now();
    const acceptedAt = new Date();
    // Auto-replies answer a number that texted in: no pumping guard applies to them.
    const limits = opts.autoReply ? undefined : await this.limits.of(workspace.id);
    const policy = limits ? destinationPolicy(limits.allowed_countries, this.blockedPrefixes) : undefined;
    const checked = inputs.map((input) => guarded(this.check(input), policy));
    const t1 = performance.now();
    const senders = await this.sendersOf(workspace, checked);
    const t2 = performance.now();
    const outcomes = checked.map((c, i) =>
      'refused' in c
        ? c.refused
        : this.prepare(workspace, c, senders[i], acceptedAt, {
            id: opts.ids?.[i] ?? randomUUID(),
            autoReply: opts.autoReply === true,
            optOutConfirmation: opts.optOutConfirmation?.[i] === true,
          }),
    );
    this.stageSeconds.observe({ stage: 'check' }, (t1 - t0 + performance.now() - t2) / 1000);
    this.stageSeconds.observe({ stage: 'senders' }, (t2 - t1) / 1000);
    const budgeted = limits ? await this.withinBudget(workspace.id, limits, outcomes) : outcomes;
    const prepared = budgeted.filter((o): o is Prepared => 'row' in o);
    if (prepared.length) {
      try {
        await this.persist(prepared);
      } catch (err) {
        if (limits?.daily_segment_budget != null) {
          await this.budget.refund(workspace.id, sum(prepared.map((p) => p.row.segments)));
        }
        throw err;
      }
    }
    return budgeted.map((o) => ('row' in o ? { ok: true, message: o.answer } : o));
  }

  /**
   * The workspace's daily segment budget over the prepared items, in item order (one Redis call):
   * the items past the budget are refused with 429 daily_budget_exhausted.
   */
  private async withinBudget(
    workspaceId: string,
    limits: SendingLimits,
    outcomes: readonly (AcceptOutcome | Prepared)[],
  ): Promise<(AcceptOutcome | Prepared)[]> {
    const budget = limits.daily_segment_budget;
    const segments = outcomes.flatMap((o) => ('row' in o ? [o.row.segments] : []));
    const { admitted, used } = await this.budget.admit(workspaceId, budget, segments);
    if (admitted === segments.length) return [...outcomes];
    let n = 0;
    return outcomes.map((o) => {
      if (!('row' in o) || n++ < admitted) return o;
      const error = new ApiError(
        HttpStatus.TOO_MANY_REQUESTS,
        'daily_budget_exhausted',
        `this message needs ${o.row.segments} segment(s) but the workspace's daily segment budget (${budget}) has ${Math.max((budget ?? 0) - (used ?? 0), 0)} left today (UTC)`,
        { budget, used, segments: o.row.segments },
      );
      return { ok: false as const, error };
    });
  }

  async get(workspaceId: string, id: string) {
    // An id that is not a UUID cannot exist; answering 404 keeps Postgres from refusing the cast.
    const m = isUuid(id) ? await this.repo.get(workspaceId, id) : undefined;
    if (!m) throw ApiError.notFound('message', id);
    return presentMessage(m);
  }

  /** What can be checked of one item without asking anyone: schema, number, carrier, callback, body. */
  private check(input: unknown): Checked | { refused: AcceptOutcome } {
    const parsed = sendMessageSchema.safeParse(input ?? {});
    if (!parsed.success) return { refused: refused(schemaIssues(parsed.error)) };
    const m: SendMessageInput = parsed.data;
    const issues: Issue[] = [];

    const phone = normalizePhone(m.to);
    let to: string | undefined;
    if (!phone.ok) issues.push({ path: 'to', message: phone.detail, code: phone.reason });
    else to = phone.e164;
    const country = phone.ok ? phone.country : undefined;
    const carrier = to ? this.directory.carrierOf(to) : undefined;
    if (to && !carrier) issues.push({ path: 'to', message: `no configured carrier serves ${to}` });

    if (m.status_callback !== undefined) {
      const cb = checkCallbackUrl(m.status_callback, {
        production: this.config.env.NODE_ENV === 'production',
      });
      if (!cb.ok) issues.push({ path: 'status_callback', message: cb.reason });
    }
    if (m.metadata && Buffer.byteLength(JSON.stringify(m.metadata)) > MAX_METADATA_BYTES) {
      issues.push({ path: 'metadata', message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` });
    }
    if (m.body.trim() === '') issues.push({ path: 'body', message: 'must not be empty' });
    return { m, to, country, carrier, issues };
  }

  /**
   * The sender of each checked item with a valid number (sticky within a pool): one
   * resolveSenders call, so one Redis round trip, per distinct `from` of the batch. A `from` that
   * names no usable sender is an issue of each of its items.
   */
  private async sendersOf(
    workspace: { id: string; name: string },
    checked: readonly (Checked | { refused: AcceptOutcome })[],
  ): Promise<(SenderConfig | ApiError | undefined)[]> {
    const out: (SenderConfig | ApiError | undefined)[] = new Array(checked.length);
    const byFrom = new Map<string | undefined, number[]>();
    checked.forEach((c, i) => {
      if ('refused' in c || !c.to) return;
      const group = byFrom.get(c.m.from);
      if (group) group.push(i);
      else byFrom.set(c.m.from, [i]);
    });
    await Promise.all(
      [...byFrom].map(async ([from, indexes]) => {
        const recipients = [...new Set(indexes.map((i) => (checked[i] as Checked).to!))];
        try {
          const chosen = await this.directory.resolveSenders(workspace, from, recipients);
          for (const i of indexes) out[i] = chosen.get((checked[i] as Checked).to!);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          for (const i of indexes) out[i] = err;
        }
      }),
    );
    return out;
  }

  private prepare(
    workspace: { id: string; name: string },
    checked: Checked,
    resolved: SenderConfig | ApiError | undefined,
    acceptedAt: Date,
    item: { id: string; autoReply: boolean; optOutConfirmation: boolean },
  ): AcceptOutcome | Prepared {
    const { id, autoReply, optOutConfirmation } = item;
    const { m, to, carrier } = checked;
    const issues = [...checked.issues];
    let sender: SenderConfig | undefined;
    if (resolved instanceof ApiError) {
      issues.push({ path: 'from', message: fieldMessage(resolved, 'from'), code: resolved.code });
    } else sender = resolved;

    let analysis: ReturnType<typeof analyzeText> | undefined;
    if (m.body.trim() !== '') {
      analysis = analyzeText(m.body, { smartEncoding: m.smart_encoding ?? sender?.smart_encoding ?? false });
      const n = analysis.segments;
      if (n > MAX_PARTS) {
        issues.push({
          path: 'body',
          message: `is ${n} segments (${analysis.encoding}); a concatenated SMS has at most ${MAX_PARTS} parts`,
        });
      } else if (n > MAX_SEGMENTS && !m.allow_long) {
        issues.push({
          path: 'body',
          message: `is ${n} segments (${analysis.encoding}); more than ${MAX_SEGMENTS} needs allow_long: true`,
        });
      }
    }

    if (issues.length || !to || !sender || !analysis || !carrier) return refused(issues);
    const validUntil = m.validity_seconds
      ? new Date(acceptedAt.getTime() + m.validity_seconds * 1000)
      : undefined;
    const smartEncoding = m.smart_encoding ?? sender.smart_encoding;
    return {
      row: {
        id,
        workspaceId: workspace.id,
        type: 'transactional',
        to,
        sender: sender.address,
        carrierId: carrier.id,
        connectorId: sender.connector,
        // What the customer receives (after smart encoding), which is what GET and threads show.
        body: analysis.text,
        encoding: analysis.encoding,
        segments: analysis.segments,
        metadata: m.metadata ?? {},
        statusCallback: m.status_callback ?? null,
        validUntil: validUntil ?? null,
        acceptedAt,
        autoReply,
      },
      envelope: {
        id,
        workspaceId: workspace.id,
        to,
        from: sender.address,
        body: analysis.text,
        encoding: analysis.encoding,
        segments: analysis.segments,
        type: 'transactional',
        acceptedAt: acceptedAt.getTime(),
        ...(validUntil ? { validUntil: validUntil.getTime() } : {}),
        ...(smartEncoding ? { smartEncoding } : {}),
        ...(autoReply ? { autoReply } : {}),
        ...(optOutConfirmation ? { optOutConfirmation } : {}),
      },
      answer: {
        id,
        status: 'accepted',
        to,
        from: sender.address,
        encoding: analysis.encoding,
        segments: analysis.segments,
      },
    };
  }

  private async persist(prepared: Prepared[]): Promise<void> {
    const t0 = performance.now();
    const inserted = await this.repo.insertAccepted(prepared.map((p) => p.row));
    const t1 = performance.now();
    this.stageSeconds.observe({ stage: 'insert' }, (t1 - t0) / 1000);
    try {
      await this.kafka.produce(
        'sms.outbound.priority',
        prepared.map((p) => ({ key: p.envelope.to, value: JSON.stringify(p.envelope) })),
      );
    } catch (err) {
      // Stored but not on the topic: nothing would ever send them. End them visibly (a terminal
      // status the API shows) instead of leaving them accepted forever, and let the caller retry.
      this.log.error({ err, messages: prepared.length }, 'producing accepted messages failed');
      await this.statuses
        .apply(
          prepared.map((p) => ({
            id: p.row.id,
            status: 'failed' as const,
            errorCode: 'enqueue_failed',
            detail: 'the message could not be put on the outbound topic',
            at: new Date(),
          })),
        )
        .catch((e) => this.log.error({ err: e }, 'marking unqueued messages failed did not succeed'));
      throw new ApiError(
        HttpStatus.SERVICE_UNAVAILABLE,
        'unavailable',
        'messages could not be queued (Kafka did not acknowledge); nothing was sent, retry later',
      );
    }
    this.stageSeconds.observe({ stage: 'produce' }, (performance.now() - t1) / 1000);
    // Ids given again (a redelivered auto-reply) were accepted the first time, not now.
    if (inserted.length) this.accepted.inc({ type: 'transactional' }, inserted.length);
  }
}

// An unknown field ("From", "text") is named itself, so the 400 says which one to fix.
function schemaIssues(err: z.ZodError): Issue[] {
  return err.issues.flatMap((i, n) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ path: k, message: 'is not a field of a message' }))
      : [issuesOf(err)[n]],
  );
}

/** A checked item to a destination the workspace may not text is refused with 403 (its code). */
function guarded(
  c: Checked | { refused: AcceptOutcome },
  policy: DestinationPolicy | undefined,
): Checked | { refused: AcceptOutcome } {
  if ('refused' in c || !c.to || !policy) return c;
  const r = refuseDestination(c.to, c.country, policy);
  if (!r) return c;
  const details =
    r.code === 'prefix_blocked' ? { to: c.to, prefix: r.prefix } : { to: c.to, country: r.country };
  return { refused: { ok: false, error: new ApiError(HttpStatus.FORBIDDEN, r.code, r.message, details) } };
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function refused(issues: Issue[]): AcceptOutcome {
  return { ok: false, error: ApiError.validation(issues) };
}

/** The reason of an ApiError about one field, without repeating the field's name. */
function fieldMessage(err: ApiError, field: string): string {
  const body = err.getResponse() as { error?: { message?: string } };
  const msg = body.error?.message ?? err.message;
  return msg.startsWith(`${field}: `) ? msg.slice(field.length + 2) : msg;
}
