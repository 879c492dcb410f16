// What the dispatcher records: the carrier's answers (`submitted` with carrier ids) and the outcomes
// it decides itself (expired, rejected, suppressed, canceled, failed, and holds), batched through
// the status batcher into the message record; the metrics and customer callbacks of what took
// effect; holds into Redis; records that are not messages, and messages refused on every attempt,
// on the dead-letter topic. Each resolves once durable, so the caller may then commit the offset.
import type { DeadLetters } from '../../infra/kafka/dead-letters';
import type { AppliedChange } from '../messages/message-record';
import type { StatusCallbackService } from '../receipts/status-callback.service';
import type { DecidedRow, DispatchRecordRepository, TakeItem } from './dispatch-record.repository';
import type { DispatchMetrics } from './dispatch-metrics';
import type { DispatchTuning } from './dispatch.tuning';
import type { HeldMessages } from './held-messages.service';
import type { Flight, IntakeRecord, Refusal } from './intake';
import type { DispatchEnvelope } from './outbound-envelope';
import { StatusBatcher } from './status-batcher';

export type HoldReason = 'quiet_hours' | 'campaign_paused';

export class OutcomeRecorder {
  private readonly statuses: StatusBatcher;

  constructor(
    records: DispatchRecordRepository,
    private readonly held: HeldMessages,
    private readonly deadLetters: DeadLetters,
    private readonly metrics: DispatchMetrics,
    tuning: DispatchTuning,
    onWriteError: (err: unknown, attempt: number) => void,
    private readonly callbacks?: StatusCallbackService,
  ) {
    this.statuses = new StatusBatcher(records, {
      lingerMs: tuning.statusLingerMs,
      maxBatch: tuning.statusMaxBatch,
      concurrency: tuning.statusConcurrency,
      onApplied: (applied) => this.afterApplied(applied),
      onError: onWriteError,
    });
  }

  /** A status the dispatcher decided (writing the row of a campaign message that has none). */
  async decide(env: DispatchEnvelope, refusal: Refusal, at: Date, f?: Flight): Promise<void> {
    await this.statuses.decide(decidedRow(env, refusal, at, f));
  }

  async submitted(f: Flight, carrierMessageIds: string[], receiptKeys: string[], at: Date): Promise<void> {
    await this.statuses.markSubmitted({
      id: f.id,
      workspaceId: f.env.workspaceId,
      carrierId: f.carrierId,
      connectorId: f.connector.id,
      carrierMessageIds,
      receiptKeys,
      submittedAt: at,
    });
  }

  /** Holds envelopes in Redis until `releaseAt`, each `queued` with its reason. */
  async hold(
    holds: { env: DispatchEnvelope; releaseAt: Date }[],
    reason: HoldReason,
    at: Date,
  ): Promise<void> {
    if (!holds.length) return;
    await this.held.hold(holds.map((h) => ({ envelope: h.env, releaseAt: h.releaseAt })));
    // `queued` shows the message is waiting; a hold of a message already queued changes nothing.
    await Promise.all(
      holds.map((h) =>
        this.statuses.decide({
          ...decidedRow(
            h.env,
            {
              status: 'queued',
              detail: reason === 'quiet_hours' ? 'held for quiet hours' : 'held while the campaign is paused',
            },
            at,
          ),
          event: { reason, release_at: h.releaseAt.toISOString() },
        }),
      ),
    );
  }

  /** Records that are not messages go to the dead-letter topic with the reason. */
  async setAside(items: { rec: IntakeRecord; reason: string }[]): Promise<void> {
    if (!items.length) return;
    await this.deadLetters.send(
      'sms.outbound.dlq',
      items.map(({ rec, reason }) => ({
        source: { topic: rec.ref.topic, partition: rec.ref.partition, offset: rec.ref.offset },
        key: rec.key?.toString('utf8') ?? null,
        value: rec.value?.toString('utf8') ?? null,
        reason,
        label: 'malformed',
      })),
    );
  }

  /** A message refused on every attempt, kept on the dead-letter topic for a replay. */
  async deadLetter(f: Flight, reason: string): Promise<void> {
    const ref = f.refs[0];
    await this.deadLetters.send('sms.outbound.dlq', [
      {
        source: { topic: ref.topic, partition: ref.partition, offset: ref.offset },
        key: f.to,
        value: JSON.stringify(f.env),
        reason,
        label: 'retries_exhausted',
      },
    ]);
  }

  /** Writes everything pending, then stops retrying failed writes (shutdown). */
  async close(): Promise<void> {
    await this.statuses.flush();
    this.statuses.close();
  }

  private async afterApplied(applied: AppliedChange[]) {
    this.metrics.applied(applied);
    await this.callbacks?.notify(applied);
  }
}

/** The row a message the dispatcher ends has (written if it has none: a campaign message). */
export function decidedRow(env: DispatchEnvelope, refusal: Refusal, at: Date, f?: Flight): DecidedRow {
  return {
    row: {
      id: env.id,
      workspaceId: env.workspaceId,
      campaignId: env.campaignId ?? null,
      type: env.type,
      to: env.to,
      sender: env.from,
      carrierId: f?.carrierId ?? null,
      connectorId: f?.connector.id ?? null,
      body: env.body,
      encoding: env.encoding,
      segments: env.segments,
      metadata: env.metadata,
      statusCallback: env.statusCallback ?? null,
      validUntil: env.validUntil !== undefined ? new Date(env.validUntil) : null,
      acceptedAt: new Date(env.acceptedAt),
      autoReply: env.autoReply ?? false,
    },
    change: { ...refusal, id: env.id, at },
  };
}

/** A flight as its take writes it: its row, and the lease it was read under. */
export function takeItemOf(f: Flight): TakeItem {
  const ref = f.refs[f.refs.length - 1];
  return {
    ...decidedRow(f.env, { status: 'submitting' }, new Date(), f).row,
    carrierId: f.carrierId,
    connectorId: f.connector.id,
    topic: ref.topic,
    partition: ref.partition,
    epoch: ref.epoch,
  };
}
