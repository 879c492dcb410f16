import { Controller, Get, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ConfigService } from '../../config/config.service';
import { assertCallbackUrls } from '../../infra/http/callback-url';
import { ApiZodBody, ZodBody } from '../../infra/http/zod';
import { CurrentWorkspace } from './auth.guard';
import { SendingLimitsService } from './sending-limits.service';
import { Workspace, WorkspaceRepository } from './workspace.repository';
import { WorkspaceSettings, resolveSettings, workspaceSettingsSchema } from './workspace-settings';

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/workspace/settings')
export class WorkspaceSettingsController {
  constructor(
    private readonly repo: WorkspaceRepository,
    private readonly config: ConfigService,
    private readonly limits: SendingLimitsService,
  ) {}

  @Get()
  async get(@CurrentWorkspace() ws: Workspace) {
    const s = (await this.repo.settings(ws.id)) as WorkspaceSettings;
    return { ...resolveSettings(ws.name, s), ...this.limits.resolve(s) };
  }

  /** Merges the given settings into the workspace's (a field set to null is not allowed, omit it; except daily_segment_budget: null = unlimited). */
  @Patch()
  @ApiZodBody(workspaceSettingsSchema)
  async patch(@CurrentWorkspace() ws: Workspace, @ZodBody(workspaceSettingsSchema) body: WorkspaceSettings) {
    // Replies are posted there: the URL rule is checked now, not first at send time.
    assertCallbackUrls([['reply_webhook_url', body.reply_webhook_url]], {
      production: this.config.env.NODE_ENV === 'production',
    });
    const merged = { ...((await this.repo.settings(ws.id)) as WorkspaceSettings), ...body };
    await this.repo.saveSettings(ws.id, merged);
    return { ...resolveSettings(ws.name, merged), ...this.limits.resolve(merged) };
  }
}
