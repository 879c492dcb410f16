// Receipts own what happens after a carrier took a message: DLR parsing and the receipts consumer,
// parked receipts, provider webhooks (Twilio-style), customer status callbacks and their signing
// secrets, and the connectors' live state on the API.
import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { ConnectorStateService } from './connector-state.service';
import { ConnectorsController } from './connectors.controller';
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
import { WebhooksController } from './webhooks.controller';

@Global()
@Module({
  imports: [BullModule.registerQueue({ name: CALLBACK_QUEUE })],
  controllers: [WebhooksController, WebhookSecretController, ConnectorsController],
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
    ConnectorStateService,
  ],
  // Other modules that change statuses report them to customers through StatusCallbackService.
  exports: [StatusCallbackService, WebhookSecretService],
})
export class ReceiptsModule {}
