// Liveness (the process answers) and readiness (Postgres, Redis and Kafka all answer, and no consumer
// of this process is stalled: records waiting on a partition whose committed offset stopped
// moving), on every role.
import { Controller, Get, HttpStatus, Injectable, Module, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { Db } from '../db/db';
import { InjectDb } from '../db/db.module';
import { ConsumerHost, ConsumerStall } from '../kafka/consumer-host';
import { KafkaService } from '../kafka/kafka.service';
import { InjectRedis } from '../redis/redis.module';

type Check = 'postgres' | 'redis' | 'kafka' | 'consumers';

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`no answer in ${ms} ms`)), ms).unref()),
  ]);
}

@Injectable()
export class HealthService {
  constructor(
    @InjectDb() private readonly db: Db,
    @InjectRedis() private readonly redis: Redis,
    private readonly kafka: KafkaService,
    private readonly consumers: ConsumerHost,
  ) {}

  async readiness(): Promise<{
    ready: boolean;
    checks: Record<Check, { up: boolean; error?: string; stalled?: ConsumerStall[] }>;
  }> {
    const run = async (fn: () => Promise<unknown>) => {
      try {
        await within(fn(), 2_000);
        return { up: true };
      } catch (e) {
        return { up: false, error: e instanceof Error ? e.message : String(e) };
      }
    };
    const [postgres, redis, kafka] = await Promise.all([
      run(() => sql`select 1`.execute(this.db)),
      run(async () => {
        if ((await this.redis.ping()) !== 'PONG') throw new Error('unexpected PING answer');
      }),
      run(async () => {
        if (!(await this.kafka.ping(1_800))) throw new Error('no broker answered');
      }),
    ]);
    const stalled = this.consumers.stalls();
    const consumers = stalled.length
      ? {
          up: false,
          error: stalled
            .map(
              (s) =>
                `${s.group} ${s.topic}[${s.partition}]: ${s.lag} waiting, no commit for ${s.stalledForSeconds} s`,
            )
            .join('; '),
          stalled,
        }
      : { up: true };
    const checks = { postgres, redis, kafka, consumers };
    return { ready: postgres.up && redis.up && kafka.up && consumers.up, checks };
  }
}

@ApiTags('health')
@Controller('health')
class HealthController {
  constructor(private readonly health: HealthService) {}

  @Get('live')
  @ApiOkResponse({ description: 'The process is running.' })
  live() {
    return { status: 'live' };
  }

  @Get('ready')
  @ApiOkResponse({ description: 'Postgres, Redis and Kafka all answer, and no consumer is stalled.' })
  @ApiServiceUnavailableResponse({
    description:
      'A dependency is down or a consumer is stalled; `down` names them, `checks.consumers.stalled` the group and partition.',
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const r = await this.health.readiness();
    const down = (Object.keys(r.checks) as Check[]).filter((k) => !r.checks[k].up);
    void reply.status(r.ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: r.ready ? 'ready' : 'not_ready', ...(down.length ? { down } : {}), checks: r.checks };
  }
}

@Module({ providers: [HealthService], controllers: [HealthController], exports: [HealthService] })
export class HealthModule {}
