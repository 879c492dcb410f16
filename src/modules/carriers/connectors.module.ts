// The connectors to carriers (SMPP binds, HTTP providers) of this process, one registry for all.
// Needs only config, logging and Kafka, so a test can start the connectors alone.
import { Module } from '@nestjs/common';
import { ConnectorRegistry } from './connector-registry.service';

@Module({ providers: [ConnectorRegistry], exports: [ConnectorRegistry] })
export class ConnectorsModule {}
