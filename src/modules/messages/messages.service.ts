// Accepting transactional messages: validate each (number, sender, text, callback), store the
// accepted ones in one insert, put them on the priority topic in one produce, and answer only once
// both are durable. Used by the API, and by anything else that sends a transactional message
// (inbox replies) so every message is accepted the same way.
import { HttpStatus, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { z } from 'zod/v4';
import { ConfigService } from '../../config/config.service';
import { ApiError } from '../../infra/http/api-error';
import { issuesOf } from '../../infra/http/zod';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { normalizePhone } from '../carriers/phone-number';
import { analyzeText } from '../encoding';
// One URL rule for accepting and for sending callbacks (SSRF checks included).
import { checkCallbackUrl } from '../receipts/callback-url';
import {
  AcceptedMessage,
  MAX_METADATA_BYTES,
  MAX_PARTS,
  MAX_SEGMENTS,
  SendMessageInput,
  presentMessage,
  sendMessageSchema,
} from './message.dto';
import { AcceptedRow, MessageRepository } from './message.repository';
import type { OutboundEnvelope } from './message.types';

export interface Issue {
  path: string;
  message: string;
  code?: string;
}

export interface AcceptOptions {
  /** Auto-replies and confirmations: flagged so no auto-reply ever answers them. */
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

interface Prepared {
  row: AcceptedRow;
  envelope: OutboundEnvelope;
  answer: AcceptedMessage;
}

@Injectable()
export class MessagesService {
  private readonly accepted: Counter<'type'>;

  constructor(
    private readonly repo: MessageRepository,
    private readonly directory: CarrierDirectory,
    private readonly kafka: KafkaService,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.accepted = metrics.counter(
      METRICS.messagesAccepted.name,
      'Messages accepted for sending (stored and on an outbound topic).',
      METRICS.messagesAccepted.labels,
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
   */
  async accept(
    workspace: { id: string; name: string },
    inputs: readonly unknown[],
    opts: AcceptOptions = {},
  ): Promise<AcceptOutcome[]> {
    if (opts.ids && opts.ids.length !== inputs.length) {
      throw new Error(`accept: ${opts.ids.length} ids given for ${inputs.length} messages`);
    }
    const acceptedAt = new Date();
    // Concurrently: sender resolution may ask Redis (sticky senders), and a batch is up to 1,000.
    const outcomes = await Promise.all(
      inputs.map((input, i) =>
        this.prepare(workspace, input, acceptedAt, {
          id: opts.ids?.[i] ?? randomUUID(),
          autoReply: opts.autoReply === true,
          optOutConfirmation: opts.optOutConfirmation?.[i] === true,
        }),
      ),
    );
    const prepared = outcomes.filter((o): o is Prepared => 'row' in o);
    if (prepared.length) await this.persist(prepared);
    return outcomes.map((o) => ('row' in o ? { ok: true, message: o.answer } : o));
  }

  async get(workspaceId: string, id: string) {
    // An id that is not a UUID cannot exist; answering 404 keeps Postgres from refusing the cast.
    const m = isUuid(id) ? await this.repo.get(workspaceId, id) : undefined;
    if (!m) throw ApiError.notFound('message', id);
    return presentMessage(m);
  }

  private async prepare(
    workspace: { id: string; name: string },
    input: unknown,
    acceptedAt: Date,
    item: { id: string; autoReply: boolean; optOutConfirmation: boolean },
  ): Promise<AcceptOutcome | Prepared> {
    const { id, autoReply, optOutConfirmation } = item;
    const parsed = sendMessageSchema.safeParse(input ?? {});
    if (!parsed.success) return refused(schemaIssues(parsed.error));
    const m: SendMessageInput = parsed.data;
    const issues: Issue[] = [];

    const phone = normalizePhone(m.to);
    let to: string | undefined;
    if (!phone.ok) issues.push({ path: 'to', message: phone.detail, code: phone.reason });
    else to = phone.e164;
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

    // The sender is chosen per recipient (sticky within a pool), so it needs a valid number.
    let sender: Awaited<ReturnType<CarrierDirectory['resolveSender']>> | undefined;
    if (to) {
      try {
        sender = await this.directory.resolveSender(workspace, m.from, to);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        issues.push({ path: 'from', message: fieldMessage(err, 'from'), code: err.code });
      }
    }

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
    const inserted = await this.repo.insertAccepted(prepared.map((p) => p.row));
    try {
      await this.kafka.produce(
        'sms.outbound.priority',
        prepared.map((p) => ({ key: p.envelope.to, value: JSON.stringify(p.envelope) })),
      );
    } catch (err) {
      // Stored but not on the topic: nothing would ever send them. End them visibly (a terminal
      // status the API shows) instead of leaving them accepted forever, and let the caller retry.
      this.log.error({ err, messages: prepared.length }, 'producing accepted messages failed');
      await this.repo
        .applyStatuses(
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

function refused(issues: Issue[]): AcceptOutcome {
  return { ok: false, error: ApiError.validation(issues) };
}

/** The reason of an ApiError about one field, without repeating the field's name. */
function fieldMessage(err: ApiError, field: string): string {
  const body = err.getResponse() as { error?: { message?: string } };
  const msg = body.error?.message ?? err.message;
  return msg.startsWith(`${field}: `) ? msg.slice(field.length + 2) : msg;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (s: string) => UUID.test(s);
