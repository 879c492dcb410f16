// Composes the engine: infrastructure first, then one module per domain. Every role loads the same
// modules; workers and consumers start only in processes whose role owns them, and the /v1 API
// answers only where the `api` role runs.
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ParleyEnv } from './config/config.schema';
import { ConfigModule } from './config/config.module';
import { DbModule } from './infra/db/db.module';
import { HealthModule } from './infra/health/health.module';
import { HttpInfraModule } from './infra/http/http.module';
import { RoleGuard } from './infra/http/role.guard';
import { KafkaModule } from './infra/kafka/kafka.module';
import { LoggingModule } from './infra/logging/logging.module';
import { MetricsModule } from './infra/metrics/metrics.module';
import { QueueModule } from './infra/queue/queue.module';
import { RedisModule } from './infra/redis/redis.module';
import { WorkspacesModule } from './modules/workspaces/workspaces.module';
import { RateLimitsModule } from './modules/workspaces/rate-limits.module';
import { CarriersModule } from './modules/carriers/carriers.module';
import { ConnectorsModule } from './modules/carriers/connectors.module';
import { ConsentModule } from './modules/consent/consent.module';
import { AudiencesModule } from './modules/audiences/audiences.module';
import { MessagesModule } from './modules/messages/messages.module';
import { ReceiptsModule } from './modules/receipts/receipts.module';
import { DispatchModule } from './modules/dispatch/dispatch.module';
import { RepliesModule } from './modules/replies/replies.module';
import { CampaignsModule } from './modules/campaigns/campaigns.module';

// Domain modules, in the order of the flow. Each owns its controllers, repositories and workers.
export const DOMAIN_MODULES = [
  WorkspacesModule,
  RateLimitsModule, // after WorkspacesModule: its guard reads what ApiKeyGuard attached
  CarriersModule,
  ConnectorsModule,
  ConsentModule,
  AudiencesModule,
  MessagesModule,
  ReceiptsModule,
  DispatchModule,
  RepliesModule,
  CampaignsModule,
];

@Module({})
export class AppModule {
  static forRoot(env: ParleyEnv, logging: LoggingModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(env),
        LoggingModule.forRoot(logging.logger),
        MetricsModule,
        DbModule,
        RedisModule,
        KafkaModule,
        QueueModule,
        HttpInfraModule,
        HealthModule,
        ...DOMAIN_MODULES,
      ],
      providers: [{ provide: APP_GUARD, useClass: RoleGuard }],
    };
  }
}

import type { AppLogger } from './infra/logging/app-logger';
export interface LoggingModuleOptions {
  logger: AppLogger;
}
