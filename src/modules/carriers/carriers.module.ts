// Carriers: the carriers file (connectors, carriers by prefix, senders and pools) as one
// CarrierDirectory and its listing endpoints (GET /v1/senders, /v1/carriers); the connectors' live
// state (GET /v1/connectors, published by dispatcher processes); and the Twilio-style connector's
// webhooks (POST /v1/webhooks/:connector/inbound|status), which hand carrier traffic to Kafka.
import { Module } from '@nestjs/common';
import { CarrierDirectory } from './carrier-directory.service';
import { CarriersController } from './carriers.controller';
import { ConnectorStateService } from './connector-state.service';
import { ConnectorsController } from './connectors.controller';
import { ConnectorsModule } from './connectors.module';
import { TwilioWebhooksController } from './twilio/twilio-webhooks.controller';

@Module({
  imports: [ConnectorsModule],
  providers: [CarrierDirectory, ConnectorStateService],
  controllers: [CarriersController, ConnectorsController, TwilioWebhooksController],
  exports: [CarrierDirectory],
})
export class CarriersModule {}
