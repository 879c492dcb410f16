// Runs eachBatch consumers the one way Parley does: offsets are resolved by the handler only once
// the outcome of a message is durable, committed after each batch, and the consumer disconnects
// cleanly on shutdown so the group rebalances at once instead of waiting for a session timeout.
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { ConfigService, TopicName } from '../../config/config.service';
import { AppLogger } from '../logging/app-logger';
import { KafkaService } from './kafka.service';

export interface BatchContext {
  topic: string;
  partition: number;
  messages: KafkaMessage[];
  /** Marks everything up to and including this offset as done (committed after the handler). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  pause(): () => void;
}

export interface ConsumerSpec {
  groupId: string;
  topics: TopicName[];
  /** Handles one partition's batch; resolve offsets as outcomes become durable. */
  handle(batch: BatchContext): Promise<void>;
  partitionsConsumedConcurrently?: number;
  fromBeginning?: boolean;
  sessionTimeout?: number;
  maxBytesPerPartition?: number;
}

@Injectable()
export class ConsumerHost implements BeforeApplicationShutdown {
  private consumers: Consumer[] = [];

  constructor(
    private readonly kafka: KafkaService,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
  ) {}

  async start(spec: ConsumerSpec): Promise<Consumer> {
    await this.kafka.topicsReady;
    const consumer = this.kafka.kafka.consumer({
      groupId: `${this.config.env.KAFKA_TOPIC_PREFIX}${spec.groupId}`,
      sessionTimeout: spec.sessionTimeout ?? 30_000,
      heartbeatInterval: 3_000,
      rebalanceTimeout: 60_000,
      maxBytesPerPartition: spec.maxBytesPerPartition ?? 1_048_576,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    await consumer.connect();
    for (const t of spec.topics) {
      await consumer.subscribe({ topic: this.config.topic(t), fromBeginning: spec.fromBeginning ?? true });
    }
    const log = this.log.child({ consumer: spec.groupId });
    await consumer.run({
      autoCommit: true,
      autoCommitInterval: 1_000,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: spec.partitionsConsumedConcurrently ?? 4,
      eachBatch: async (p: EachBatchPayload) => {
        try {
          await spec.handle({
            topic: p.batch.topic,
            partition: p.batch.partition,
            messages: p.batch.messages,
            resolveOffset: p.resolveOffset,
            heartbeat: p.heartbeat,
            isRunning: p.isRunning,
            isStale: p.isStale,
            pause: p.pause,
          });
          await p.commitOffsetsIfNecessary();
        } catch (err) {
          // Unresolved messages are fetched again; kafkajs restarts the consumer on errors.
          log.error({ err, topic: p.batch.topic, partition: p.batch.partition }, 'batch handler failed');
          throw err;
        }
      },
    });
    this.consumers.push(consumer);
    return consumer;
  }

  // Before the producer and the database close, so in-flight batches finish and commit.
  async beforeApplicationShutdown() {
    await Promise.all(this.consumers.map((c) => c.disconnect().catch(() => undefined)));
    this.consumers = [];
  }
}
