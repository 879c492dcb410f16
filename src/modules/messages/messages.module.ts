// Messages own the message record (MessageRepository for the API, MessageStatusRepository for the
// status changes the dispatcher and the receipts consumer apply) and the accepting API for
// transactional messages (MessagesService, also used for inbox replies).
import { Global, Module } from '@nestjs/common';
import { MessageStatusRepository } from './message-status.repository';
import { MessageRepository } from './message.repository';
import { MessagesController } from './messages.controller';
import { MessagesService } from './messages.service';

@Global()
@Module({
  providers: [MessageRepository, MessageStatusRepository, MessagesService],
  controllers: [MessagesController],
  exports: [MessageRepository, MessageStatusRepository, MessagesService],
})
export class MessagesModule {}
