// A BullMQ processor that runs only in processes started with its role. Declare processors with
// `@Processor(QUEUE, { autorun: false })` and extend this class.
import { WorkerHost } from '@nestjs/bullmq';
import { OnApplicationBootstrap } from '@nestjs/common';
import { Role } from '../../config/config.schema';
import { ConfigService } from '../../config/config.service';

export abstract class RoleWorker extends WorkerHost implements OnApplicationBootstrap {
  protected abstract readonly role: Role;

  constructor(protected readonly config: ConfigService) {
    super();
  }

  onApplicationBootstrap() {
    if (this.config.hasRole(this.role)) void this.worker.run();
  }
}
