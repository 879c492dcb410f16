// Runs eachBatch consumers the one way Parley does: offsets are resolved by the handler only once
// the outcome of a message is durable, committed after each batch, and the consumer disconnects
// cleanly on shutdown so the group rebalances at once instead of waiting for a session timeout.
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { ConfigService, TopicName } from '../../config/config.service';
import { AppLogger } from '../logging/app-logger';
import { METRICS } from '../metrics/metric-names';
import { MetricsService } from '../metrics/metrics.service';
import { KafkaService } from './kafka.service';

/** How often each process measures the lag of the partitions it owns. */
const LAG_INTERVAL_MS = 5_000;

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

/** A partition whose group has records waiting and whose committed offset stopped moving. */
export interface ConsumerStall {
  group: string;
  topic: string;
  partition: number;
  lag: number;
  /** Seconds since its committed offset last moved (or since this process took it). */
  stalledForSeconds: number;
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
  /**
   * Let the broker gather records before answering a fetch: it holds the fetch until `minBytes`
   * are there or `maxWaitMs` passed. For consumers whose records tolerate that delay (receipts):
   * at a trickle every record otherwise costs a fetch, a batch and its statements of its own.
   */
  gather?: { minBytes: number; maxWaitMs: number };
  /**
   * The handler keeps records past the end of its batch (the dispatcher's lanes) and commits with
   * `consumer.commitOffsets` itself once their outcomes are durable. kafkajs fetches a partition
   * from its last *resolved* offset, so a handler that resolves late has every unfinished record
   * fetched, decoded and handed to it again on each fetch; here the host moves the fetch position
   * past each batch at once and never commits (autoCommit off), the handler's commits being the
   * only ones. Never call `resolveOffset` from such a handler: it would move the fetch back.
   */
  ownCommits?: boolean;
  /**
   * Called on every group join, the first one included, with this member's assignment (topic →
   * partitions), before any batch of the new assignment is handed over.
   */
  onJoin?: (assignment: Record<string, number[]>) => void;
}

@Injectable()
export class ConsumerHost implements BeforeApplicationShutdown {
  private consumers: Consumer[] = [];
  private closing = false;
  private lagTimers: NodeJS.Timeout[] = [];
  private readonly lag;
  private readonly stalledGauge;
  /** Per owned partition: its committed offset when last seen moving, and since when. */
  private readonly progress = new Map<
    string,
    { group: string; topic: string; partition: number; committed: number; since: number; lag: number }
  >();

  constructor(
    private readonly kafka: KafkaService,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.lag = metrics.gauge(
      METRICS.consumerLag.name,
      'Messages behind the end of each topic, over the partitions this process owns (sum over processes for the group).',
      METRICS.consumerLag.labels,
    );
    this.stalledGauge = metrics.gauge(
      METRICS.consumerStalled.name,
      '1 while a partition this process owns has records waiting and its committed offset has not moved for PARLEY_CONSUMER_STALL_SECONDS.',
      METRICS.consumerStalled.labels,
    );
  }

  /**
   * The partitions of this process whose consumer is stalled: records are waiting (lag) and the
   * committed offset has not moved for PARLEY_CONSUMER_STALL_SECONDS. Readiness turns red on any.
   */
  stalls(now = Date.now()): ConsumerStall[] {
    const limitMs = this.config.env.PARLEY_CONSUMER_STALL_SECONDS * 1000;
    const out: ConsumerStall[] = [];
    for (const p of this.progress.values()) {
      if (p.lag > 0 && now - p.since >= limitMs)
        out.push({
          group: p.group,
          topic: p.topic,
          partition: p.partition,
          lag: p.lag,
          stalledForSeconds: Math.round((now - p.since) / 1000),
        });
    }
    return out;
  }

  /**
   * Joins the group and starts consuming. Keeps trying while Kafka does not answer (a role may start
   * before its broker), until the process shuts down.
   */
  async start(spec: ConsumerSpec): Promise<Consumer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(spec);
      } catch (err) {
        if (this.closing) throw err;
        this.log.warn({ err, attempt, consumer: spec.groupId }, 'consumer could not start; retrying');
        await new Promise((r) => setTimeout(r, Math.min(1_000 * attempt, 10_000)));
        if (this.closing) throw err;
      }
    }
  }

  private async startOnce(spec: ConsumerSpec): Promise<Consumer> {
    await this.kafka.topicsReady;
    const consumer = this.kafka.kafka.consumer({
      groupId: groupIdOf(this.config, spec.groupId),
      sessionTimeout: spec.sessionTimeout ?? 30_000,
      heartbeatInterval: 3_000,
      rebalanceTimeout: 60_000,
      maxBytesPerPartition: spec.maxBytesPerPartition ?? 1_048_576,
      // How long the broker holds a fetch that finds nothing: records still come back the moment
      // they arrive, so this only sets how often an idle consumer asks (and wakes the broker).
      // 100 ms made the idle engine spend 2–5 % of the host on empty fetches; a second keeps a
      // rebalance noticed within a second more than before.
      maxWaitTimeInMs: spec.gather?.maxWaitMs ?? 1_000,
      minBytes: spec.gather?.minBytes ?? 1,
      allowAutoTopicCreation: false,
      retry: { retries: 10 },
    });
    try {
      await consumer.connect();
    } catch (err) {
      await consumer.disconnect().catch(() => undefined);
      throw err;
    }
    for (const t of spec.topics) {
      await consumer.subscribe({ topic: this.config.topic(t), fromBeginning: spec.fromBeginning ?? true });
    }
    const log = this.log.child({ consumer: spec.groupId });
    // Before run(): the first group join happens inside it.
    this.watchLag(consumer, groupIdOf(this.config, spec.groupId));
    if (spec.onJoin) {
      const onJoin = spec.onJoin;
      consumer.on(consumer.events.GROUP_JOIN, (e) => onJoin(e.payload.memberAssignment));
    }
    const ownCommits = spec.ownCommits ?? false;
    await consumer.run({
      autoCommit: !ownCommits,
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
          if (ownCommits) {
            const last = p.batch.messages[p.batch.messages.length - 1];
            if (last && p.isRunning() && !p.isStale()) p.resolveOffset(last.offset);
          } else await p.commitOffsetsIfNecessary();
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

  /**
   * Lag per topic for the partitions assigned to this member: the high watermark minus the group's
   * committed offset. Each process reports only its own partitions, so a sum over processes is the
   * group's lag and a dead process's partitions move to the survivors at the next rebalance.
   */
  private watchLag(consumer: Consumer, groupId: string) {
    let assigned: Record<string, number[]> = {};
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assigned = e.payload.memberAssignment;
      for (const topic of Object.keys(assigned)) this.lag.set({ topic, group: groupId }, 0);
    });
    const measure = async () => {
      const admin = await this.kafka.getAdmin();
      for (const [topic, partitions] of Object.entries(assigned)) {
        if (!partitions.length) {
          this.lag.set({ topic, group: groupId }, 0);
          continue;
        }
        const [ends, committed] = await Promise.all([
          admin.fetchTopicOffsets(topic),
          admin.fetchOffsets({ groupId, topics: [topic] }),
        ]);
        const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        let lag = 0;
        const now = Date.now();
        for (const p of ends) {
          if (!partitions.includes(p.partition)) continue;
          const end = Number(p.high);
          const at = done.get(p.partition) ?? -1;
          const behind = at < 0 ? end - Number(p.low) : Math.max(0, end - at);
          lag += behind;
          this.noteProgress(groupId, topic, p.partition, at, behind, now);
        }
        this.lag.set({ topic, group: groupId }, lag);
      }
      // Partitions this process no longer owns are someone else's to report.
      for (const [key, p] of this.progress) {
        if (p.group === groupId && !assigned[p.topic]?.includes(p.partition)) {
          this.progress.delete(key);
          this.stalledGauge.set({ group: p.group, topic: p.topic, partition: String(p.partition) }, 0);
        }
      }
    };
    // Often enough that a stall is seen within half its limit past it.
    const every = Math.min(LAG_INTERVAL_MS, (this.config.env.PARLEY_CONSUMER_STALL_SECONDS * 1000) / 2);
    const timer = setInterval(() => void measure().catch(() => undefined), every);
    timer.unref();
    this.lagTimers.push(timer);
  }

  /** Records a partition's committed offset: its stall clock restarts whenever the offset moves or nothing waits. */
  private noteProgress(
    group: string,
    topic: string,
    partition: number,
    committed: number,
    lag: number,
    now: number,
  ) {
    const key = `${group}\u0000${topic}\u0000${partition}`;
    const p = this.progress.get(key);
    if (!p || p.committed !== committed || lag === 0)
      this.progress.set(key, { group, topic, partition, committed, since: now, lag });
    else p.lag = lag;
    const stalled =
      lag > 0 && now - this.progress.get(key)!.since >= this.config.env.PARLEY_CONSUMER_STALL_SECONDS * 1000;
    this.stalledGauge.set({ group, topic, partition: String(partition) }, stalled ? 1 : 0);
  }

  // Before the producer and the database close, so in-flight batches finish and commit.
  async beforeApplicationShutdown() {
    this.closing = true;
    for (const t of this.lagTimers) clearInterval(t);
    await Promise.all(this.consumers.map((c) => c.disconnect().catch(() => undefined)));
    this.consumers = [];
  }
}

/** Consumer groups carry the topic prefix too, so tests and tenants of one cluster never share one. */
export const groupIdOf = (config: ConfigService, groupId: string) =>
  `${config.env.KAFKA_TOPIC_PREFIX}${groupId}`;
