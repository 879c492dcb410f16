// Dispatch: the outbound consumer, per-carrier lanes, segment buckets and the submit path. Loaded
// in every process (the reconciler and metrics are harmless); the consumer, the quiet-hours
// release loop and the reconciler start only where the dispatcher role runs. Nothing here is
// offered to other modules: the dispatcher is the end of the outbound flow.
import { Module } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { CampaignsModule } from '../campaigns/campaigns.module';
import { CarriersModule } from '../carriers/carriers.module';
import { ConnectorsModule } from '../carriers/connectors.module';
import { ConsentModule } from '../consent/consent.module';
import { MessagesModule } from '../messages/messages.module';
import { ReceiptsModule } from '../receipts/receipts.module';
import { DispatchConsumer } from './dispatch.consumer';
import { DispatchRecordRepository, PartitionLeaseRepository } from './dispatch-record.repository';
import { DEFAULT_DISPATCH_TUNING, DISPATCH_TUNING } from './dispatch.tuning';
import { Dispatcher } from './dispatcher.service';
import { HeldMessages } from './held-messages.service';
import { SharedSendWindow } from './shared-window.service';
import { SubmitReconciler } from './submit-reconciler.service';
import { TokenBucketStore } from './token-buckets.service';

@Module({
  // The Dispatcher and the reconciler take CampaignStates and StatusCallbackService @Optional():
  // without these imports they would silently be missing (no pause, no status callbacks).
  imports: [CampaignsModule, CarriersModule, ConnectorsModule, ConsentModule, MessagesModule, ReceiptsModule],
  providers: [
    {
      provide: DISPATCH_TUNING,
      inject: [ConfigService],
      // How long a submit with no answer waits for a receipt before it ends as unknown.
      useFactory: (c: ConfigService) => ({
        ...DEFAULT_DISPATCH_TUNING,
        rate: { ...DEFAULT_DISPATCH_TUNING.rate, jitterMs: c.env.PARLEY_CARRIER_JITTER_MS },
        unknownOutcomeAfterMs: c.env.PARLEY_SUBMIT_UNKNOWN_AFTER_SECONDS * 1000,
      }),
    },
    TokenBucketStore,
    SharedSendWindow,
    DispatchRecordRepository,
    PartitionLeaseRepository,
    HeldMessages,
    Dispatcher,
    SubmitReconciler,
    DispatchConsumer,
  ],
})
export class DispatchModule {}
