// Replies own what customers send back: the router (sms.inbound → consent, handlers, inbox),
// the classifier API, the inbox and conversation threads.
import { Module } from '@nestjs/common';
import { RepliesController } from './replies.controller';
import { RepliesRepository } from './replies.repository';
import { ReplyRouter } from './reply-router.consumer';
import { ReplyWebhooks } from './reply-webhooks.service';

@Module({
  providers: [RepliesRepository, ReplyRouter, ReplyWebhooks],
  controllers: [RepliesController],
  exports: [RepliesRepository],
})
export class RepliesModule {}
