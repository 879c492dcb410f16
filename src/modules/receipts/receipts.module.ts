// Receipts own what happens after a carrier took a message: DLR parsing and the receipts consumer
// (sms.receipts → part and message statuses), parked and unapplied receipts, customer status
// callbacks (BullMQ) and their signing secrets. Provider webhooks that bring receipts in belong to
// their connector (carriers/twilio).
import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConnectorsModule } from '../carriers/connectors.module';
import { MessagesModule } from '../messages/messages.module';
import { ParkedReceiptRepository, UnappliedReceiptRepository } from './parked-receipt.repository';
import { PartOutcomeRepository } from './part-outcome.repository';
import { ReceiptApplier } from './receipt-applier.service';
import { ReceiptsConsumer } from './receipts.consumer';
import { StatusCallbackProcessor } from './status-callback.processor';
import { StatusCallbackRepository } from './status-callback.repository';
import { CALLBACK_QUEUE, StatusCallbackService } from './status-callback.service';
import { WebhookSecretController } from './webhook-secret.controller';
import { WebhookSecretRepository } from './webhook-secret.repository';
import { WebhookSecretService } from './webhook-secret.service';

@Module({
  imports: [BullModule.registerQueue({ name: CALLBACK_QUEUE }), MessagesModule, ConnectorsModule],
  controllers: [WebhookSecretController],
  providers: [
    ParkedReceiptRepository,
    UnappliedReceiptRepository,
    PartOutcomeRepository,
    StatusCallbackRepository,
    WebhookSecretRepository,
    WebhookSecretService,
    StatusCallbackService,
    StatusCallbackProcessor,
    ReceiptApplier,
    ReceiptsConsumer,
  ],
  // Other modules that change statuses report them to customers through StatusCallbackService.
  exports: [StatusCallbackService],
})
export class ReceiptsModule {}
