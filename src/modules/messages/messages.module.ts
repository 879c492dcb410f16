// Messages own the message store (every status change goes through MessageRepository) and the
// accepting API for transactional messages (MessagesService, also used for inbox replies).
import { Global, Module } from '@nestjs/common';
import { MessageRepository } from './message.repository';
import { MessagesController } from './messages.controller';
import { MessagesService } from './messages.service';

@Global()
@Module({
  providers: [MessageRepository, MessagesService],
  controllers: [MessagesController],
  exports: [MessageRepository, MessagesService],
})
export class MessagesModule {}
