// The dispatcher's Kafka side: one consumer group on both outbound topics, or on one of them (see
// dispatchSubscription). A batch handler only parses and hands records to the lanes, then returns,
// so a slow carrier never holds a partition's next batch hostage (other carriers' messages behind
// it keep flowing). Offsets are committed here, once a second, per partition up to the highest
// offset below which every message is durable (the host moves kafkajs' fetch position past each
// batch at once: see ownCommits); a partition with too many open messages is paused (kafkajs
// pause/resume) until its lanes drain. Every assignment (the first one too) starts a new generation:
// the process takes a new lease epoch for each partition it was assigned (PartitionLeaseRepository),
// which every fence it writes is checked against, so a process that lost a partition can no longer
// take its messages; old offset refs are ignored and queued messages nobody took are let go (the
// new owner reads them again).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Consumer } from 'kafkajs';
import type { Logger } from 'pino';
import type { ParleyEnv } from '../../config/config.schema';
import { ConfigService } from '../../config/config.service';
import { BatchContext, ConsumerHost, groupIdOf } from '../../infra/kafka/consumer-host';
import { AppLogger } from '../../infra/logging/app-logger';
import { ConnectorRegistry } from '../carriers/connector-registry.service';
import { DISPATCH_TUNING, DispatchTuning } from './dispatch.tuning';
import { PartitionLeaseRepository, leaseKey } from './dispatch-record.repository';
import { Dispatcher, OffsetRef } from './dispatcher.service';
import { HeldMessages } from './held-messages.service';
import { PartitionProgress } from './partition-progress';
import { SubmitReconciler } from './submit-reconciler.service';

export const DISPATCH_GROUP = 'parley-dispatcher';

export type DispatchTopics = ParleyEnv['PARLEY_DISPATCH_TOPICS'];

/**
 * The consumer group and topics of a dispatcher (PARLEY_DISPATCH_TOPICS). Bulk-only dispatchers
 * keep the group of the all-topics ones, so a deployment that moves to split dispatchers keeps its
 * bulk offsets; priority-only dispatchers have a group of their own (a new group reads the priority
 * topic from its start, where every message already past its claim is skipped).
 */
export function dispatchSubscription(topics: DispatchTopics): {
  groupId: string;
  topics: ('sms.outbound.priority' | 'sms.outbound')[];
} {
  if (topics === 'priority')
    return { groupId: `${DISPATCH_GROUP}-priority`, topics: ['sms.outbound.priority'] };
  if (topics === 'bulk') return { groupId: DISPATCH_GROUP, topics: ['sms.outbound'] };
  return { groupId: DISPATCH_GROUP, topics: ['sms.outbound.priority', 'sms.outbound'] };
}

interface PartitionState {
  progress: PartitionProgress;
  /** Highest offset below which every message is durable: what the next commit carries. */
  resolved?: string;
  /** The last `resolved` committed, so a quiet partition is not committed again and again. */
  committed?: string;
  resume?: () => void;
}

@Injectable()
export class DispatchConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private consumer?: Consumer;
  private generation = 0;
  private readonly partitions = new Map<string, PartitionState>();
  private readonly log: Logger;
  private stopping = false;
  private commitTimer?: NodeJS.Timeout;
  /** Resolves once the consumer has joined its group (tests and readiness wait on it). */
  readonly joined: Promise<void>;
  private markJoined!: () => void;
  /** This generation's lease epoch per partition (`topic:partition`), once taken. */
  private epochs?: Promise<Map<string, string>>;
  private assignment: Record<string, number[]> = {};
  private readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  constructor(
    private readonly config: ConfigService,
    private readonly host: ConsumerHost,
    private readonly dispatcher: Dispatcher,
    private readonly connectors: ConnectorRegistry,
    private readonly held: HeldMessages,
    private readonly reconciler: SubmitReconciler,
    private readonly leases: PartitionLeaseRepository,
    @Inject(DISPATCH_TUNING) private readonly tuning: DispatchTuning,
    logger: AppLogger,
  ) {
    this.log = logger.child({ component: 'dispatch-consumer' });
    this.joined = new Promise((r) => (this.markJoined = r));
    this.dispatcher.onFinished = (ref) => this.finished(ref);
  }

  onApplicationBootstrap() {
    if (!this.config.hasRole('dispatcher')) return;
    // Not awaited: the process starts (and reports not ready) while Kafka or a carrier is away,
    // and keeps trying until they answer.
    void this.startWithRetry();
  }

  private async startWithRetry() {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        this.log.error({ err, attempt }, 'dispatcher failed to start; retrying');
        await this.consumer?.disconnect().catch(() => undefined);
        this.consumer = undefined;
        await new Promise((r) => setTimeout(r, Math.min(1_000 * attempt, 10_000)));
      }
    }
  }

  private async start() {
    this.dispatcher.publishCaps();
    await this.connectors.startAll();
    const priority = this.config.topic('sms.outbound.priority');
    const { groupId, topics } = dispatchSubscription(this.config.env.PARLEY_DISPATCH_TOPICS);
    this.dispatcher.groupId = groupIdOf(this.config, groupId);
    this.consumer = await this.host.start({
      groupId,
      topics,
      partitionsConsumedConcurrently: this.tuning.partitionsConsumedConcurrently,
      // Messages stay in the lanes after their batch returns; offsets are committed here.
      ownCommits: true,
      onJoin: (assignment) => this.newGeneration(assignment),
      handle: (batch) => this.handle(batch, batch.topic === priority ? 'priority' : 'bulk'),
    });
    this.markJoined();
    // The only commits of this group (ownCommits): what became durable in the last second.
    this.commitTimer = setInterval(() => void this.commitResolved(), 1_000);
    this.commitTimer.unref();
    this.held.start();
    this.reconciler.start();
  }

  private async handle(batch: BatchContext, laneClass: 'priority' | 'bulk') {
    if (this.stopping) return; // not resolved: read again by whoever consumes next
    const key = `${batch.topic}:${batch.partition}`;
    const st = this.stateOf(key);
    const generation = this.generation;
    const epoch = (await this.epochsNow()).get(leaseKey(batch.topic, batch.partition));
    // Not this member's partition in this generation (a batch of the assignment before): read
    // again by its owner.
    if (epoch === undefined || generation !== this.generation) throw new Error(`no lease on ${key}`);
    for (const m of batch.messages) st.progress.track(m.offset);
    await this.dispatcher.accept(
      batch.messages.map((m) => ({
        ref: { topic: batch.topic, partition: batch.partition, offset: m.offset, generation, epoch },
        key: m.key,
        value: m.value,
      })),
      laneClass,
    );
    if (!st.resume && st.progress.open >= this.tuning.maxOpenPerPartition) {
      st.resume = batch.pause();
      this.log.debug(
        { topic: batch.topic, partition: batch.partition, open: st.progress.open },
        'partition paused',
      );
    }
  }

  private finished(ref: OffsetRef) {
    if (ref.generation !== this.generation) return; // an old assignment's offset: not ours to commit
    const st = this.partitions.get(`${ref.topic}:${ref.partition}`);
    if (!st) return;
    const upTo = st.progress.finish(ref.offset);
    if (upTo !== undefined) st.resolved = upTo;
    if (st.resume && st.progress.open <= this.tuning.maxOpenPerPartition / 2) {
      const resume = st.resume;
      st.resume = undefined;
      resume();
    }
  }

  /**
   * This generation's lease epochs, taken once per assignment; a failure (the database away) is
   * not kept, so the next batch tries again.
   */
  private epochsNow(): Promise<Map<string, string>> {
    this.epochs ??= this.leases
      .acquire(
        this.dispatcher.groupId,
        this.owner,
        Object.entries(this.assignment).flatMap(([topic, ps]) =>
          ps.map((partition) => ({ topic, partition })),
        ),
      )
      .catch((err: unknown) => {
        this.epochs = undefined;
        throw err;
      });
    return this.epochs;
  }

  private newGeneration(assignment: Record<string, number[]>) {
    this.assignment = assignment;
    this.epochs = undefined;
    void this.epochsNow().catch((err) => this.log.warn({ err }, 'partition leases not taken yet; retried'));
    this.generation++;
    for (const st of this.partitions.values()) st.resume?.();
    this.partitions.clear();
    // Everything queued and unclaimed is read again from the committed offsets.
    const released = this.dispatcher.release(() => true);
    if (released)
      this.log.info({ released, generation: this.generation }, 'rebalance: queued messages let go');
  }

  private stateOf(key: string): PartitionState {
    let st = this.partitions.get(key);
    if (!st) this.partitions.set(key, (st = { progress: new PartitionProgress() }));
    return st;
  }

  private async commitResolved() {
    const due = [...this.partitions.entries()].filter(
      ([, st]) => st.resolved !== undefined && st.resolved !== st.committed,
    );
    const offsets = due.map(([key, st]) => {
      const i = key.lastIndexOf(':');
      return {
        topic: key.slice(0, i),
        partition: Number(key.slice(i + 1)),
        offset: String(BigInt(st.resolved!) + 1n),
      };
    });
    if (!offsets.length || !this.consumer) return;
    const marks = due.map(([, st]) => [st, st.resolved] as const);
    try {
      await this.consumer.commitOffsets(offsets);
      for (const [st, at] of marks) st.committed = at;
    } catch (err) {
      this.log.debug({ err }, 'offset commit failed; the next one carries it');
    }
  }

  // Before ConsumerHost disconnects (beforeApplicationShutdown): finish what is claimed, write
  // every outcome, commit, then let the host leave the group.
  async onModuleDestroy() {
    this.stopping = true;
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.held.stop();
    this.reconciler.stop();
    if (!this.consumer) return;
    await this.dispatcher.drain();
    await this.commitResolved();
  }
}
