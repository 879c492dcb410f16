// Messages own the message record (MessageRepository for the API, MessageStatusRepository for the
// status changes the dispatcher and the receipts consumer apply), the accepting API for
// transactional messages (MessagesService, also used for inbox replies and auto-replies), the
// preview of what a message would cost (POST /v1/messages/preview), the callback URL rules and the
// daily segment budget of each workspace (SegmentBudgetService, also asked by campaign launches).
import { Module } from '@nestjs/common';
import { CarriersModule } from '../carriers/carriers.module';
import { WorkspacesModule } from '../workspaces/workspaces.module';
import { MessageStatusRepository } from './message-status.repository';
import { MessageRepository } from './message.repository';
import { MessagesController } from './messages.controller';
import { MessagesService } from './messages.service';
import { PreviewController } from './preview.controller';
import { SegmentBudgetService } from './segment-budget.service';

@Module({
  imports: [CarriersModule, WorkspacesModule],
  providers: [MessageRepository, MessageStatusRepository, MessagesService, SegmentBudgetService],
  controllers: [MessagesController, PreviewController],
  exports: [MessageRepository, MessageStatusRepository, MessagesService, SegmentBudgetService],
})
export class MessagesModule {}
