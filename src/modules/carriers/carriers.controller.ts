// GET /v1/senders and GET /v1/carriers: what the carriers file gives this workspace to send from
// and where its messages go.
import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Page, whole } from '../../infra/http/pagination';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace } from '../workspaces/workspace.repository';
import { CarrierDirectory } from './carrier-directory.service';

export interface SenderJson {
  address: string;
  kind: 'short_code' | 'long_code' | 'toll_free';
  segments_per_second: number;
  connector: string;
  pool: string | null;
  smart_encoding: boolean;
}

export interface CarrierJson {
  id: string;
  name: string;
  prefixes: string[];
  segments_per_second: number;
  daily_cap: number | null;
}

@ApiTags('carriers')
@ApiBearerAuth()
@Controller('v1')
export class CarriersController {
  constructor(private readonly directory: CarrierDirectory) {}

  @Get('senders')
  @ApiOperation({ summary: 'Senders this workspace may use, and the default `from` of messages' })
  @ApiOkResponse({
    description:
      '{ data: [{ address, kind, segments_per_second, connector, pool, smart_encoding }], next_cursor: null, default_from }',
  })
  senders(@CurrentWorkspace() ws: Workspace): Page<SenderJson> & { default_from: string | null } {
    return {
      ...whole(
        this.directory.sendersFor(ws).map((s) => ({
          address: s.address,
          kind: s.kind,
          segments_per_second: s.segments_per_second,
          connector: s.connector,
          pool: s.pool ?? null,
          smart_encoding: s.smart_encoding,
        })),
      ),
      default_from: this.directory.file.default_from ?? null,
    };
  }

  @Get('carriers')
  @ApiOperation({ summary: 'Carriers, the number prefixes they serve (longest wins) and their caps' })
  @ApiOkResponse({
    description: '{ data: [{ id, name, prefixes, segments_per_second, daily_cap }], next_cursor: null }',
  })
  carriers(): Page<CarrierJson> {
    return whole(
      this.directory.carriers().map((c) => ({
        id: c.id,
        name: c.name ?? c.id,
        prefixes: c.prefixes,
        segments_per_second: c.segments_per_second,
        daily_cap: c.daily_cap ?? null,
      })),
    );
  }
}
