// Checks a producer's acknowledgement against where the batch's records were placed. Pure: no
// framework, no I/O.
import type { RecordMetadata } from 'kafkajs';

export const partitionKey = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * The partitions (`topic/partition`) a batch put records on that the acknowledgement says nothing
 * about. kafkajs (2.2.4) keeps the answers of brokers that took their share of a batch across its
 * retries and, on a retry, sends only to brokers without one: a partition whose leader moved (a
 * broker stopping, a reassignment) to a broker that had already answered is never sent, yet
 * sendBatch resolves. Anything listed here is not known to be in Kafka.
 */
export function unacknowledged(placed: Iterable<string>, acks: RecordMetadata[]): string[] {
  const acked = new Set(acks.map((a) => partitionKey(a.topicName, a.partition)));
  return [...new Set(placed)].filter((p) => !acked.has(p));
}
