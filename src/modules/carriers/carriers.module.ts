// Carriers: the carriers file (connectors, carriers by prefix, senders and pools) as one global
// CarrierDirectory, its listing endpoints, and the message preview.
import { Global, Module } from '@nestjs/common';
import { CarrierDirectory } from './carrier-directory.service';
import { CarriersController } from './carriers.controller';
import { PreviewController } from './preview.controller';

@Global()
@Module({
  providers: [CarrierDirectory],
  controllers: [CarriersController, PreviewController],
  exports: [CarrierDirectory],
})
export class CarriersModule {}
