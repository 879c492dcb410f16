// BullMQ on Redis for scheduled and chunked work (imports, campaign expansion, webhook retries).
// Queues are registered by the domain modules with BullModule.registerQueue; processors extend
// RoleWorker so a worker only runs in the processes whose role owns it.
import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { redisOptions } from '../redis/redis.module';

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (c: ConfigService) => ({
        connection: redisOptions(c.env.REDIS_URL, true),
        prefix: `${c.env.KAFKA_TOPIC_PREFIX || ''}parley`,
        defaultJobOptions: { removeOnComplete: 1_000, removeOnFail: 5_000 },
      }),
    }),
  ],
  exports: [BullModule],
})
export class QueueModule {}
