// Replies own what customers send back: the router (sms.inbound → consent, campaign reply
// handlers, inbox), the classifier API, the inbox and conversation threads, and the reply counts
// campaign stats read.
import { ReplyActions } from './reply-actions.service';
import { Module } from '@nestjs/common';
import { CarriersModule } from '../carriers/carriers.module';
import { ConsentModule } from '../consent/consent.module';
import { MessagesModule } from '../messages/messages.module';
import { ReceiptsModule } from '../receipts/receipts.module';
import { WorkspacesModule } from '../workspaces/workspaces.module';
import { RepliesController } from './replies.controller';
import { RepliesRepository } from './replies.repository';
import { ReplyRouter } from './reply-router.consumer';
import { ReplyWebhooks } from './reply-webhooks.service';

@Module({
  imports: [CarriersModule, ConsentModule, MessagesModule, ReceiptsModule, WorkspacesModule],
  providers: [RepliesRepository, ReplyRouter, ReplyActions, ReplyWebhooks],
  controllers: [RepliesController],
  exports: [RepliesRepository],
})
export class RepliesModule {}
