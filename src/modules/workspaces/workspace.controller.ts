import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { CurrentWorkspace } from './auth.guard';
import { Workspace } from './workspace.repository';

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/workspace')
export class WorkspaceController {
  @Get()
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: { id: { type: 'string', format: 'uuid' }, name: { type: 'string' } },
    },
  })
  current(@CurrentWorkspace() ws: Workspace): { id: string; name: string } {
    return { id: ws.id, name: ws.name };
  }
}
