import { Controller, Get, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiZodBody, ZodBody } from '../../infra/http/zod';
import { CurrentWorkspace } from './auth.guard';
import { Workspace, WorkspaceRepository } from './workspace.repository';
import { WorkspaceSettings, resolveSettings, workspaceSettingsSchema } from './workspace-settings';

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/workspace/settings')
export class WorkspaceSettingsController {
  constructor(private readonly repo: WorkspaceRepository) {}

  @Get()
  async get(@CurrentWorkspace() ws: Workspace) {
    return resolveSettings(ws.name, (await this.repo.settings(ws.id)) as WorkspaceSettings);
  }

  /** Merges the given settings into the workspace's (a field set to null is not allowed; omit it). */
  @Patch()
  @ApiZodBody(workspaceSettingsSchema)
  async patch(@CurrentWorkspace() ws: Workspace, @ZodBody(workspaceSettingsSchema) body: WorkspaceSettings) {
    const merged = { ...((await this.repo.settings(ws.id)) as WorkspaceSettings), ...body };
    await this.repo.saveSettings(ws.id, merged);
    return resolveSettings(ws.name, merged);
  }
}
