import { Global, Module } from '@nestjs/common';
import { ConsumerHost } from './consumer-host';
import { DeadLetters } from './dead-letters';
import { KafkaService } from './kafka.service';

@Global()
@Module({
  providers: [KafkaService, ConsumerHost, DeadLetters],
  exports: [KafkaService, ConsumerHost, DeadLetters],
})
export class KafkaModule {}
