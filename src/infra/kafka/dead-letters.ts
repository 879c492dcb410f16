// The dead-letter topics: a record a consumer could not process goes to `<topic>.dlq` with where it
// came from and why, and is counted (`parley_dlq_messages_total{topic,reason}`), so the consumer
// moves on and an operator can see, and replay, what was set aside.
import { Injectable } from '@nestjs/common';
import type { TopicName } from '../../config/config.service';
import { METRICS } from '../metrics/metric-names';
import { MetricsService } from '../metrics/metrics.service';
import { KafkaService } from './kafka.service';

export type DeadLetterTopic = Extract<TopicName, `${string}.dlq`>;

export interface DeadLetter {
  source: { topic: string; partition: number; offset: string };
  key: string | null;
  /** The record's value as it was read (text), or null. */
  value: string | null;
  /** Why it was set aside, printable (see poison.ts reasonOf). */
  reason: string;
  /** A short label for the metric: malformed, poison, retries_exhausted. */
  label: string;
}

@Injectable()
export class DeadLetters {
  private readonly counter;

  constructor(
    private readonly kafka: KafkaService,
    metrics: MetricsService,
  ) {
    this.counter = metrics.counter(
      METRICS.dlqMessages.name,
      'Records set aside on a dead-letter topic, by topic and reason.',
      METRICS.dlqMessages.labels,
    );
  }

  async send(topic: DeadLetterTopic, letters: readonly DeadLetter[]): Promise<void> {
    if (!letters.length) return;
    await this.kafka.produce(
      topic,
      letters.map((l) => ({
        key: l.key ?? `${l.source.topic}:${l.source.partition}:${l.source.offset}`,
        value: JSON.stringify({
          reason: l.reason,
          source: l.source,
          record: l.value,
          at: new Date().toISOString(),
        }),
        headers: { 'parley-dlq-reason': l.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) },
      })),
    );
    for (const l of letters) this.counter.inc({ topic, reason: l.label });
  }
}
