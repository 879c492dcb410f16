import { Global, Module } from '@nestjs/common';
import { ConsumerHost } from './consumer-host';
import { KafkaService } from './kafka.service';

@Global()
@Module({ providers: [KafkaService, ConsumerHost], exports: [KafkaService, ConsumerHost] })
export class KafkaModule {}
