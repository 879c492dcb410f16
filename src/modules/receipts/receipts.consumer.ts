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
import { ParkedReceiptRepository, UnappliedReceiptRepository } from './parked-receipt.repository';

const CHUNK = 500;
/** A receipt that overtook its submit's write is looked up again after this long before parking. */
const UNMATCHED_RETRY_MS = 250;
const PARKED_TICK_MS = 1_000;
const PARKED_BATCH = 500;
const PARKED_MAX_RETRY_MS = 5 * 60 * 1000;
/** Matched parked receipts stay as a record this long. */
const PARKED_KEEP_MS = 24 * 60 * 60 * 1000;

function isEnvelope(v: any): v is ReceiptEnvelope {
  return v && typeof v === 'object' && typeof v.connectorId === 'string' && typeof v.raw === 'string';
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
    private readonly unapplied: UnappliedReceiptRepository,
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
      .start({ groupId: 'receipts', topics: ['sms.receipts'], handle: (b) => this.handle(b) })
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
      await this.applyChunk(chunk);
      batch.resolveOffset(chunk[chunk.length - 1].offset);
      await batch.heartbeat();
    }
  }

  private async applyChunk(messages: KafkaMessage[]): Promise<void> {
    const inputs: ReceiptInput[] = [];
    const unreadable: string[] = [];
    for (const m of messages) {
      const text = m.value?.toString('utf8') ?? '';
      try {
        const v = JSON.parse(text);
        if (isEnvelope(v)) inputs.push({ envelope: v });
        else unreadable.push(text);
      } catch {
        unreadable.push(text);
      }
    }
    if (unreadable.length) {
      this.log.warn({ count: unreadable.length }, 'unreadable records on sms.receipts kept as unapplied');
      await this.unapplied.insert(
        unreadable.map((raw) => ({
          workspaceId: null,
          messageId: null,
          connectorId: null,
          carrierMessageId: null,
          reason: 'unreadable',
          stat: null,
          raw,
          receivedAt: new Date(),
        })),
      );
    }
    try {
      await this.applier.apply(inputs, { unmatchedRetryMs: UNMATCHED_RETRY_MS });
    } catch (err) {
      // A record the database refuses (data or constraint error, SQLSTATE 22/23) would stop the
      // partition forever; find it, keep it as unapplied and go on. Anything else (the database
      // away) is thrown so the batch is read again.
      if (!/^2[23]/.test(String((err as { code?: string }).code ?? ''))) throw err;
      for (const input of inputs) {
        try {
          await this.applier.apply([input]);
        } catch (one) {
          if (!/^2[23]/.test(String((one as { code?: string }).code ?? ''))) throw one;
          this.log.error(
            { err: one, receipt: input.envelope },
            'receipt refused by the database; kept as unapplied',
          );
          await this.unapplied.insert([
            {
              workspaceId: null,
              messageId: null,
              connectorId: null,
              carrierMessageId: null,
              reason: 'unreadable',
              stat: null,
              raw: JSON.stringify(input.envelope).replace(/\\u0000/g, ''),
              receivedAt: new Date(),
            },
          ]);
        }
      }
    }
  }

  /** One pass over the parked receipts that are due; public so tests and the CLI can drive it. */
  async retryParked(): Promise<number> {
    if (this.ticking || this.stopped) return 0;
    this.ticking = true;
    let matched = 0;
    try {
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
