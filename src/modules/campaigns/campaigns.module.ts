// Campaigns own drafts and their launch plans, launch/pause/resume/cancel, expansion of a segment
// into messages (BullMQ, scheduler role), and the campaign states the dispatcher honours. Audiences
// are read through their query helpers (segment.repository.ts), not a provider.
import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { CarriersModule } from '../carriers/carriers.module';
import { MessagesModule } from '../messages/messages.module';
import { RepliesModule } from '../replies/replies.module';
import { WorkspacesModule } from '../workspaces/workspaces.module';
import { CampaignExpandProcessor } from './campaign-expand.processor';
import { CampaignExpander } from './campaign-expander';
import { CampaignRepository } from './campaign.repository';
import { CampaignService, EXPAND_QUEUE } from './campaign.service';
import { CampaignStates } from './campaign-states.service';
import { CampaignsController } from './campaigns.controller';

@Module({
  imports: [
    BullModule.registerQueue({ name: EXPAND_QUEUE }),
    CarriersModule,
    MessagesModule,
    RepliesModule,
    WorkspacesModule,
  ],
  providers: [CampaignRepository, CampaignService, CampaignExpander, CampaignExpandProcessor, CampaignStates],
  controllers: [CampaignsController],
  exports: [CampaignStates],
})
export class CampaignsModule {}
