// Redis clients: one for the engine's own keys (rate buckets, caches, locks), whose commands fail
// fast when Redis is away, and the connection options BullMQ needs (maxRetriesPerRequest: null).
import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import IORedis, { Redis, RedisOptions } from 'ioredis';
import { ConfigService } from '../../config/config.service';

export const REDIS = Symbol('Redis');
export const InjectRedis = () => Inject(REDIS);

export function redisOptions(url: string, forBullmq = false): RedisOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    ...(forBullmq
      ? { maxRetriesPerRequest: null, enableReadyCheck: false }
      : { maxRetriesPerRequest: 2, connectTimeout: 2_000, enableOfflineQueue: true }),
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
}

@Injectable()
class RedisLifecycle implements OnApplicationShutdown {
  constructor(@InjectRedis() private readonly redis: Redis) {}
  async onApplicationShutdown() {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [ConfigService],
      useFactory: (c: ConfigService) => {
        const r = new IORedis(redisOptions(c.env.REDIS_URL));
        r.on('error', () => undefined); // reconnects on its own; readiness reports it
        return r;
      },
    },
    RedisLifecycle,
  ],
  exports: [REDIS],
})
export class RedisModule {}
