// The one Kafka client of the engine: topics created at start, a batching producer (acks=all,
// idempotent; a batch counts as sent only when every partition it used is acknowledged), and a
// consumer host for eachBatch consumers with manual offset resolution.
import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Admin, CompressionTypes, Kafka, Message, Partitioners, Producer, logLevel } from 'kafkajs';
import { ConfigService, TOPICS, TopicName } from '../../config/config.service';
import { AppLogger } from '../logging/app-logger';
import './kafkajs-idle-fix';
import { partitionKey, unacknowledged } from './produce-acks';

export interface OutgoingRecord {
  key: string;
  value: Buffer | string;
  headers?: Record<string, string>;
}

interface Pending {
  topic: string;
  messages: Message[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

@Injectable()
export class KafkaService implements OnModuleInit, OnApplicationShutdown {
  readonly kafka: Kafka;
  private producer?: Producer;
  private producerReady?: Promise<Producer>;
  private admin?: Admin;
  private queue: Pending[] = [];
  private queued = 0;
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  /** Where the partitioner put the records of the batch now being sent (flushes run one at a time). */
  private placed = new Set<string>();
  /** Linger before a batch leaves, so concurrent callers share one request. */
  lingerMs = 3;
  maxBatch = 2_000;

  constructor(
    private readonly config: ConfigService,
    private readonly log: AppLogger,
  ) {
    const child = log.child({ component: 'kafkajs' });
    this.kafka = new Kafka({
      clientId: config.env.KAFKA_CLIENT_ID,
      brokers: config.env.KAFKA_BROKERS,
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5_000 },
      logLevel: logLevel.WARN,
      logCreator:
        () =>
        ({ level, log: entry }) => {
          const { message, ...rest } = entry;
          // kafkajs reports every reconnect attempt as an error; our own code logs what matters.
          const fn = level <= logLevel.WARN ? 'warn' : 'debug';
          child[fn](rest, message);
        },
    });
  }

  /** Resolves once Parley's topics exist; consumers wait for it. */
  topicsReady!: Promise<void>;
  private closed = false;

  onModuleInit() {
    // Not awaited: an API process must start (and report not-ready) while Kafka is away.
    this.topicsReady = this.ensureTopicsWithRetry();
    this.topicsReady.catch(() => undefined);
  }

  private async ensureTopicsWithRetry(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureTopics();
        return;
      } catch (err) {
        if (this.closed) throw err;
        this.admin?.disconnect().catch(() => undefined);
        this.admin = undefined;
        if (attempt === 1 || attempt % 10 === 0)
          this.log.warn({ err, attempt }, 'kafka topics not ready; retrying');
        await new Promise((r) => setTimeout(r, Math.min(500 * attempt, 5_000)));
      }
    }
  }

  /** Creates Parley's topics when missing, with the configured partition counts. */
  async ensureTopics(): Promise<void> {
    const admin = await this.getAdmin();
    const existing = new Set(await admin.listTopics());
    const e = this.config.env;
    const wanted = TOPICS.map((t) => ({
      topic: this.config.topic(t),
      numPartitions:
        t.startsWith('sms.outbound') && t !== 'sms.outbound.dlq'
          ? e.KAFKA_OUTBOUND_PARTITIONS
          : e.KAFKA_PARTITIONS,
      replicationFactor: e.KAFKA_REPLICATION_FACTOR,
      configEntries: e.KAFKA_REPLICATION_FACTOR >= 3 ? [{ name: 'min.insync.replicas', value: '2' }] : [],
    })).filter((t) => !existing.has(t.topic));
    if (wanted.length) {
      try {
        await admin.createTopics({ topics: wanted, waitForLeaders: true });
      } catch (err: unknown) {
        // Another engine created them at the same moment.
        if (!/already exists/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    }
  }

  async getAdmin(): Promise<Admin> {
    if (!this.admin) {
      const a = this.kafka.admin();
      await a.connect();
      this.admin = a;
    }
    return this.admin;
  }

  private getProducer(): Promise<Producer> {
    if (!this.producerReady) {
      const p = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1, // keeps per-partition order even across retries
        allowAutoTopicCreation: false,
        createPartitioner: () => {
          // kafkajs's own default (murmur2 of the key, as Java clients place keys), noting each
          // partition it picks so the batch's acknowledgement can be checked against them.
          const partition = Partitioners.DefaultPartitioner();
          return (args) => {
            const chosen = partition(args);
            this.placed.add(partitionKey(args.topic, chosen));
            return chosen;
          };
        },
      });
      this.producerReady = p.connect().then(
        () => (this.producer = p),
        (err) => {
          this.producerReady = undefined;
          throw err;
        },
      );
    }
    return this.producerReady;
  }

  /**
   * Produces records to a topic, keyed (records of one key land on one partition, in order).
   * Resolves once the broker acknowledged them with acks=all. Calls made within `lingerMs` of
   * each other leave as one batch.
   */
  produce(topic: TopicName, records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        topic: this.config.topic(topic),
        messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
        resolve,
        reject,
      });
      this.queued += records.length;
      if (this.queued >= this.maxBatch) this.scheduleFlush(0);
      else this.scheduleFlush(this.lingerMs);
    });
  }

  private scheduleFlush(delay: number) {
    if (this.flushTimer && delay > 0) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, delay);
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.queued = 0;
    if (!batch.length) return;
    const byTopic = new Map<string, Message[]>();
    for (const p of batch) {
      const list = byTopic.get(p.topic) ?? [];
      for (const m of p.messages) list.push(m);
      byTopic.set(p.topic, list);
    }
    try {
      const producer = await this.getProducer();
      this.placed = new Set();
      const acks = await producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.None,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      const missing = unacknowledged(this.placed, acks);
      // Not in Kafka as far as anyone knows: fail the whole batch so every caller produces again
      // (an SMPP MO is answered with an error and offered again) rather than lose it silently.
      if (missing.length)
        throw new Error(`kafka acknowledged the batch without partitions ${missing.join(', ')}`);
      for (const p of batch) p.resolve();
    } catch (err) {
      this.discardProducer(err);
      for (const p of batch) p.reject(err);
    }
  }

  /**
   * After a failed send the idempotent producer's sequence numbers cannot be trusted: kafkajs
   * rolls them back even when the broker wrote the batch before the connection dropped (a broker
   * stopping), so the next batch to that partition is refused as out of order for good, or, the
   * same size, taken as a duplicate and silently dropped. A new producer gets a new producer id
   * and starts its sequences afresh; callers produce again (at least once).
   */
  private discardProducer(err: unknown) {
    const old = this.producerReady;
    this.producerReady = undefined;
    this.producer = undefined;
    this.log.warn({ err }, 'kafka produce failed; the next batch uses a new producer');
    old?.then((p) => p.disconnect()).catch(() => undefined);
  }

  /** Waits for everything handed to produce() so far to be acknowledged or failed. */
  async drain(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }
    await this.flushing;
  }

  /** Answers whether a broker responds, within the timeout. */
  async ping(timeoutMs = 2_000): Promise<boolean> {
    const admin = this.kafka.admin({ retry: { retries: 0 } });
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    const check = (async () => {
      try {
        await admin.connect();
        await admin.describeCluster();
        return true;
      } catch {
        return false;
      } finally {
        admin.disconnect().catch(() => undefined);
      }
    })();
    return Promise.race([check, timeout]);
  }

  async onApplicationShutdown() {
    this.closed = true;
    await this.drain().catch(() => undefined);
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
  }
}
