import { Global, Inject, Injectable, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { AppLogger } from '../logging/app-logger';
import { Db, createDb } from './db';
import { migrateToLatest } from './migrator';

export const DB = Symbol('Db');
export const InjectDb = () => Inject(DB);

@Injectable()
class DbLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @InjectDb() private readonly db: Db,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
  ) {}

  async onModuleInit() {
    if (!this.config.env.PARLEY_MIGRATE_ON_START) return;
    const r = await migrateToLatest(this.db);
    const applied = r.results?.filter((x) => x.status === 'Success').map((x) => x.migrationName) ?? [];
    if (applied.length) this.log.info({ applied }, 'migrations applied');
  }

  async onApplicationShutdown() {
    await this.db.destroy();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: DB,
      inject: [ConfigService],
      useFactory: (c: ConfigService) => createDb(c.env.DATABASE_URL, c.env.DATABASE_POOL_SIZE),
    },
    DbLifecycle,
  ],
  exports: [DB],
})
export class DbModule {}
