// GET /v1/connectors: every connector of the carriers file with its kind and live state (binds up,
// window in use, throttled now), summed over the dispatcher processes running it.
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Page, whole } from '../../infra/http/pagination';
import { ConnectorStateService, ConnectorView } from './connector-state.service';

@ApiTags('carriers')
@ApiBearerAuth()
@Controller('v1/connectors')
export class ConnectorsController {
  constructor(private readonly states: ConnectorStateService) {}

  @Get()
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        data: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              kind: { type: 'string', enum: ['smpp', 'twilio'] },
              up: { type: 'boolean' },
              binds_up: { type: 'integer' },
              binds_configured: { type: 'integer' },
              in_flight: { type: 'integer' },
              window: { type: 'integer' },
              throttled: { type: 'boolean' },
              processes: { type: 'integer' },
            },
          },
        },
        next_cursor: { type: 'string', nullable: true, description: 'always null: the list is whole' },
      },
    },
  })
  async list(): Promise<Page<ConnectorView>> {
    return whole(await this.states.list());
  }
}
