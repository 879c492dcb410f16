// Consent: the append-only opt-in/opt-out ledger, the derived current state, and suppression
// checks. The dispatcher and the reply router use the OptOutLedger; imports and the audiences API
// read and write the ledger through ConsentRepository.
import { Module } from '@nestjs/common';
import { ConsentRepository } from './consent.repository';
import { OptOutController } from './opt-out.controller';
import { OptOutLedger } from './opt-out-ledger.service';

@Module({
  providers: [ConsentRepository, OptOutLedger],
  controllers: [OptOutController],
  exports: [OptOutLedger, ConsentRepository],
})
export class ConsentModule {}
