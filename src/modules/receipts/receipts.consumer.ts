// The receipts role: consumes sms.receipts in batches and applies them (see ReceiptApplier), and
// retries parked receipts until their message's carrier id is stored. Offsets are resolved only
// after a chunk's outcome is in Postgres (statuses, parked rows, unapplied rows, callback outbox).
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { KafkaMessage } from 'kafkajs';
import { ConfigService } from '../../config/config.service';
import { BatchContext, ConsumerHost } from '../../infra/kafka/consumer-host';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import type { ReceiptEnvelope } from '../messages/message.types';
import { ReceiptApplier, ReceiptInput } from './receipt-applier.service';
import { DeadLetter, DeadLetters } from '../../infra/kafka/dead-letters';
import { isolatePoison, reasonOf } from '../../infra/kafka/poison';
import { ParkedReceiptRepository } from './parked-receipt.repository';

const CHUNK = 500;

const countBy = (xs: string[]) =>
  xs.reduce<Record<string, number>>((o, x) => ((o[x] = (o[x] ?? 0) + 1), o), {});
/** A receipt that overtook its submit's write is looked up again after this long before parking. */
const UNMATCHED_RETRY_MS = 250;
const PARKED_TICK_MS = 1_000;
const PARKED_BATCH = 500;
const PARKED_MAX_RETRY_MS = 5 * 60 * 1000;
/** Matched parked receipts stay as a record this long. */
const PARKED_KEEP_MS = 24 * 60 * 60 * 1000;

function isEnvelope(v: unknown): v is ReceiptEnvelope {
  const e = v as Partial<ReceiptEnvelope> | null;
  return !!e && typeof e === 'object' && typeof e.connectorId === 'string' && typeof e.raw === 'string';
}

@Injectable()
export class ReceiptsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private stopped = false;
  private readonly parkedGauge;
  private lastPurge = 0;

  constructor(
    private readonly config: ConfigService,
    private readonly host: ConsumerHost,
    private readonly applier: ReceiptApplier,
    private readonly parked: ParkedReceiptRepository,
    private readonly deadLetters: DeadLetters,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.parkedGauge = metrics.gauge(
      METRICS.parkedReceipts.name,
      'Receipts waiting for their message (arrived before the carrier id was stored).',
    );
  }

  onApplicationBootstrap() {
    if (!this.config.hasRole('receipts')) return;
    // Not awaited: the engine must start (and report not ready) while Kafka is away.
    this.host
      .start({
        groupId: 'receipts',
        topics: ['sms.receipts'],
        handle: (b) => this.handle(b),
        // A receipt may wait a fifth of a second for others: at low rates that turns one fetch,
        // one transaction and six statements per receipt into one per few dozen.
        gather: { minBytes: 32_768, maxWaitMs: 200 },
      })
      .catch((err) => this.log.error({ err }, 'receipts consumer did not start'));
    this.timer = setInterval(() => void this.retryParked(), PARKED_TICK_MS);
    this.timer.unref();
  }

  onApplicationShutdown() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  async handle(batch: BatchContext): Promise<void> {
    for (let i = 0; i < batch.messages.length; i += CHUNK) {
      if (!batch.isRunning() || batch.isStale()) return;
      const chunk = batch.messages.slice(i, i + CHUNK);
      await this.applyChunk(batch, chunk);
      batch.resolveOffset(chunk[chunk.length - 1].offset);
      await batch.heartbeat();
    }
  }

  private async applyChunk(batch: BatchContext, messages: KafkaMessage[]): Promise<void> {
    const inputs: (ReceiptInput & { record: KafkaMessage })[] = [];
    const unreadable: DeadLetter[] = [];
    const letterOf = (m: KafkaMessage, reason: string, label: string): DeadLetter => ({
      source: { topic: batch.topic, partition: batch.partition, offset: m.offset },
      key: m.key?.toString('utf8') ?? null,
      value: m.value?.toString('utf8') ?? null,
      reason,
      label,
    });
    for (const m of messages) {
      const text = m.value?.toString('utf8') ?? '';
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch {
        unreadable.push(letterOf(m, 'not JSON', 'malformed'));
        continue;
      }
      if (isEnvelope(v)) inputs.push({ envelope: v, record: m });
      else unreadable.push(letterOf(m, 'not a receipt envelope (connectorId and raw required)', 'malformed'));
    }
    if (unreadable.length) {
      this.log.warn({ count: unreadable.length }, 'unreadable records on sms.receipts dead-lettered');
      await this.deadLetters.send('sms.receipts.dlq', unreadable);
    }
    // A record that fails on its own, again and again, is set aside; the others are applied.
    await isolatePoison(
      inputs,
      (some) => this.applier.apply(some, { unmatchedRetryMs: UNMATCHED_RETRY_MS }).then(() => undefined),
      {
        attempts: this.config.env.PARLEY_POISON_ATTEMPTS,
        backoffMs: 100,
        poisoned: async (input, err) => {
          this.log.error({ err, receipt: input.envelope }, 'receipt could not be applied; dead-lettered');
          await this.deadLetters.send('sms.receipts.dlq', [letterOf(input.record, reasonOf(err), 'poison')]);
        },
      },
    );
  }

  /** One pass over the parked receipts that are due; public so tests and the CLI can drive it. */
  async retryParked(): Promise<number> {
    if (this.ticking || this.stopped) return 0;
    this.ticking = true;
    let matched = 0;
    try {
      // Receipts that waited the whole park time match nothing open: kept with their reason.
      for (;;) {
        const expired = await this.parked.claimExpired(
          this.config.env.PARLEY_RECEIPT_PARK_SECONDS * 1000,
          PARKED_BATCH,
        );
        if (!expired.length) break;
        const kept = await this.applier.giveUp(expired.map((p) => p.envelope));
        await this.parked.remove(expired.map((p) => p.id));
        this.log.warn(
          { receipts: kept.length, reasons: countBy(kept.map((k) => k.reason)) },
          'parked receipts matched no open part; kept as unapplied',
        );
        if (expired.length < PARKED_BATCH) break;
      }
      for (;;) {
        const due = await this.parked.claimDue(PARKED_BATCH, 1_000, PARKED_MAX_RETRY_MS);
        if (!due.length) break;
        const r = await this.applier.apply(due.map((p) => ({ envelope: p.envelope, parkedId: p.id })));
        await this.parked.markMatched(r.matchedParked);
        matched += r.matchedParked.length;
        if (due.length < PARKED_BATCH) break;
      }
      this.parkedGauge.set(await this.parked.countWaiting());
      if (Date.now() - this.lastPurge > 60 * 60 * 1000) {
        this.lastPurge = Date.now();
        await this.parked.purgeMatched(PARKED_KEEP_MS);
      }
    } catch (err) {
      if (!this.stopped) this.log.warn({ err }, 'parked receipt retry failed; next tick tries again');
    } finally {
      this.ticking = false;
    }
    return matched;
  }
}
