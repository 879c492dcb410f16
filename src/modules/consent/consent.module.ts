// Consent: the append-only opt-in/opt-out ledger, the derived current state, and suppression
// checks. Global so the dispatcher, the reply router and imports share one OptOutLedger.
import { Global, Module } from '@nestjs/common';
import { ConsentRepository } from './consent.repository';
import { OptOutController } from './opt-out.controller';
import { OptOutLedger } from './opt-out-ledger.service';

@Global()
@Module({
  providers: [ConsentRepository, OptOutLedger],
  controllers: [OptOutController],
  exports: [OptOutLedger, ConsentRepository],
})
export class ConsentModule {}
