// Campaigns own drafts and their launch plans, launch/pause/resume/cancel, expansion of a segment
// into messages (BullMQ, scheduler role), and the campaign states the dispatcher honours.
import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { AudiencesModule } from '../audiences/audiences.module';
import { RepliesModule } from '../replies/replies.module';
import { CampaignExpandProcessor } from './campaign-expand.processor';
import { CampaignExpander } from './campaign-expander';
import { CampaignRepository } from './campaign.repository';
import { CampaignService, EXPAND_QUEUE } from './campaign.service';
import { CampaignStates } from './campaign-states.service';
import { CampaignsController } from './campaigns.controller';

@Global()
@Module({
  imports: [BullModule.registerQueue({ name: EXPAND_QUEUE }), AudiencesModule, RepliesModule],
  providers: [CampaignRepository, CampaignService, CampaignExpander, CampaignExpandProcessor, CampaignStates],
  controllers: [CampaignsController],
  exports: [CampaignStates, CampaignService, CampaignRepository],
})
export class CampaignsModule {}
