// The import job, run by scheduler-role processes. BullMQ retries a failed attempt with backoff;
// each attempt resumes from the import's checkpoint. After the last attempt the import is failed
// (POST /v1/imports/:id/retry queues it again).
import { Processor } from '@nestjs/bullmq';
import { Job } from 'bullmq';
import { ConfigService } from '../../config/config.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { RoleWorker } from '../../infra/queue/role-worker';
import { IMPORTS_QUEUE, ImportService, StagingLostError } from './import.service';

@Processor(IMPORTS_QUEUE, { autorun: false, concurrency: 2 })
export class ImportProcessor extends RoleWorker {
  protected readonly role = 'scheduler' as const;

  constructor(
    config: ConfigService,
    private readonly imports: ImportService,
    private readonly log: AppLogger,
  ) {
    super(config);
  }

  async process(job: Job<{ importId: string }>): Promise<void> {
    const { importId } = job.data;
    try {
      await this.imports.process(importId);
    } catch (err) {
      const last = err instanceof StagingLostError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      this.log.pino.error({ err, importId, attempt: job.attemptsMade + 1, last }, 'import attempt failed');
      if (last) {
        await this.imports.fail(importId, err instanceof Error ? err.message : String(err));
        job.discard();
      }
      throw err;
    }
  }
}
