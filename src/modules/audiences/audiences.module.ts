// Audiences: contacts (E.164, attributes), imports (streamed upload → staging → chunked job),
// segments (the filter language) and the recipient query campaigns read.
import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConsentModule } from '../consent/consent.module';
import { AudienceRepository } from './audience.repository';
import { AudiencesController } from './audiences.controller';
import { ContactRepository } from './contact.repository';
import { ImportProcessor } from './import.processor';
import { ImportRepository } from './import.repository';
import { IMPORTS_QUEUE, ImportService } from './import.service';
import { SegmentRepository } from './segment.repository';

@Module({
  imports: [BullModule.registerQueue({ name: IMPORTS_QUEUE }), ConsentModule],
  providers: [
    AudienceRepository,
    ContactRepository,
    ImportRepository,
    SegmentRepository,
    ImportService,
    ImportProcessor,
  ],
  controllers: [AudiencesController],
})
export class AudiencesModule {}
