// The connectors to carriers (SMPP binds, HTTP providers) of this process, one registry for all.
import { Global, Module } from '@nestjs/common';
import { ConnectorRegistry } from './connector-registry.service';

@Global()
@Module({ providers: [ConnectorRegistry], exports: [ConnectorRegistry] })
export class ConnectorsModule {}
