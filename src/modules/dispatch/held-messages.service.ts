// Marketing messages that reached the dispatcher outside the recipient's quiet-hours window are
// held, not dropped: the envelope goes into a Redis sorted set scored by the time its window opens,
// and a release loop in every dispatcher puts due envelopes back on the bulk topic (keyed by the
// recipient, in acceptance order) where they are dispatched like any other. The Kafka offset of a
// held message is resolved once the envelope is in Redis.
//
// Release is produce-then-remove: a crash between the two produces an envelope twice, which is
// harmless (only one copy can claim the message); remove-then-produce could lose it.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ConfigService } from '../../config/config.service';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { InjectRedis } from '../../infra/redis/redis.module';
import type { DispatchEnvelope } from './outbound-envelope';

// One release round at a time across processes; the lock outlives a slow produce.
const LOCK_MS = 30_000;
const RELEASE_BATCH = 1_000;

@Injectable()
export class HeldMessages {
  private readonly key: string;
  private readonly lockKey: string;
  private timer?: NodeJS.Timeout;
  /** When the pending timer fires. */
  private timerAt = Infinity;
  private running = false;
  private stopped = true;
  private readonly log;

  constructor(
    @InjectRedis() private readonly redis: Redis,
    private readonly kafka: KafkaService,
    config: ConfigService,
    logger: AppLogger,
  ) {
    this.log = logger.child({ component: 'held-messages' });
    this.key = `${config.env.KAFKA_TOPIC_PREFIX}parley:dispatch:held`;
    this.lockKey = `${this.key}:lock`;
  }

  /** Holds envelopes until `releaseAt`; resolves once Redis has them. */
  async hold(items: { envelope: DispatchEnvelope; releaseAt: Date }[]): Promise<void> {
    if (!items.length) return;
    const args: (string | number)[] = [];
    for (const i of items) args.push(i.releaseAt.getTime(), JSON.stringify(i.envelope));
    await this.redis.zadd(this.key, ...args);
    const first = Math.min(...items.map((i) => i.releaseAt.getTime()));
    if (!this.stopped) this.scheduleAt(first);
  }

  /** How many envelopes are held now. */
  count(): Promise<number> {
    return this.redis.zcard(this.key);
  }

  start(): void {
    this.stopped = false;
    void this.releaseDue();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Puts every envelope due by now back on the bulk topic. Returns how many. */
  async releaseDue(now = Date.now()): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    let released = 0;
    try {
      const token = `${process.pid}:${now}:${Math.random()}`;
      if ((await this.redis.set(this.lockKey, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return 0;
      try {
        for (;;) {
          const due = await this.redis.zrangebyscore(this.key, '-inf', now, 'LIMIT', 0, RELEASE_BATCH);
          if (!due.length) break;
          const envelopes = due.map((raw) => ({ raw, env: JSON.parse(raw) as DispatchEnvelope }));
          // Per number, in the order they were accepted.
          envelopes.sort((a, b) => a.env.acceptedAt - b.env.acceptedAt);
          await this.kafka.produce(
            'sms.outbound',
            envelopes.map((e) => ({ key: e.env.to, value: e.raw })),
          );
          await this.redis.zrem(this.key, ...due);
          released += due.length;
          if (due.length < RELEASE_BATCH) break;
        }
      } finally {
        // Only our own lock is released.
        await this.redis.eval(
          "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
          1,
          this.lockKey,
          token,
        );
      }
    } catch (err) {
      this.log.warn({ err }, 'releasing held messages failed');
    } finally {
      this.running = false;
      if (!this.stopped) await this.scheduleNext();
    }
    return released;
  }

  private async scheduleNext() {
    const next = await this.redis.zrange(this.key, 0, 0, 'WITHSCORES').catch(() => [] as string[]);
    // Another process may hold the lock or Redis may be away: look again within a minute anyway.
    this.scheduleAt(next.length ? Math.min(Number(next[1]), Date.now() + 60_000) : Date.now() + 60_000);
  }

  private scheduleAt(at: number) {
    if (this.stopped) return;
    const delay = Math.max(0, at - Date.now());
    if (this.timer) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    const t = setTimeout(() => {
      this.timer = undefined;
      void this.releaseDue();
    }, delay);
    this.timerAt = at;
    t.unref();
    this.timer = t;
  }
}
