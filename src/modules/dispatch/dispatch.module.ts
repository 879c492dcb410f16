// Dispatch: the outbound consumer, per-carrier lanes, segment buckets and the submit path. Loaded
// in every process (the reconciler and metrics are harmless); the consumer, the quiet-hours
// release loop and the reconciler start only where the dispatcher role runs.
import { Module } from '@nestjs/common';
import { DispatchConsumer } from './dispatch.consumer';
import { DEFAULT_DISPATCH_TUNING, DISPATCH_TUNING } from './dispatch.tuning';
import { Dispatcher } from './dispatcher.service';
import { HeldMessages } from './held-messages.service';
import { SubmitReconciler } from './submit-reconciler.service';
import { TokenBucketStore } from './token-buckets.service';

@Module({
  providers: [
    { provide: DISPATCH_TUNING, useValue: DEFAULT_DISPATCH_TUNING },
    TokenBucketStore,
    HeldMessages,
    Dispatcher,
    SubmitReconciler,
    DispatchConsumer,
  ],
  exports: [Dispatcher, SubmitReconciler, HeldMessages, DispatchConsumer, DISPATCH_TUNING],
})
export class DispatchModule {}
