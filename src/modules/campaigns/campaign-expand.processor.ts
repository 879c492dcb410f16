// The BullMQ worker (scheduler role) that runs campaign expansions, scheduled launches included.
import { Processor } from '@nestjs/bullmq';
import { Job } from 'bullmq';
import { ConfigService } from '../../config/config.service';
import { RoleWorker } from '../../infra/queue/role-worker';
import { CampaignRepository } from './campaign.repository';
import { EXPAND_QUEUE, ExpandJob } from './campaign.service';
import { CampaignExpander } from './campaign-expander';

@Processor(EXPAND_QUEUE, { autorun: false, concurrency: 2, lockDuration: 60_000 })
export class CampaignExpandProcessor extends RoleWorker {
  protected readonly role = 'scheduler' as const;

  constructor(
    config: ConfigService,
    private readonly expander: CampaignExpander,
    private readonly repo: CampaignRepository,
  ) {
    super(config);
  }

  async process(job: Job<ExpandJob>): Promise<string> {
    // A scheduled launch arrives here at its time: move it to running first.
    const c = await this.repo.get(undefined, job.data.campaignId);
    if (c?.status === 'scheduled') await this.repo.transition(undefined, c.id, 'launch');
    let total = 0;
    return this.expander.expand(job.data.campaignId, async (n) => {
      total += n;
      await job.updateProgress({ expanded: total });
    });
  }
}
