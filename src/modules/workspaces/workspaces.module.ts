// Workspaces own tenancy: API keys, the authenticated workspace of each request (ApiKeyGuard runs
// before every route of the app; controllers read the workspace with @CurrentWorkspace()), and
// workspace settings and the sending limits they set (SendingLimitsService).
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyRepository } from './api-key.repository';
import { ApiKeyService } from './api-key.service';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeyGuard } from './auth.guard';
import { WorkspaceController } from './workspace.controller';
import { WorkspaceSettingsController } from './workspace-settings.controller';
import { WorkspaceRepository } from './workspace.repository';
import { WorkspaceService } from './workspace.service';
import { SendingLimitsService } from './sending-limits.service';

@Module({
  providers: [
    WorkspaceRepository,
    WorkspaceService,
    ApiKeyRepository,
    ApiKeyService,
    SendingLimitsService,
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
  controllers: [WorkspaceController, WorkspaceSettingsController, ApiKeysController],
  exports: [WorkspaceRepository, SendingLimitsService],
})
export class WorkspacesModule {}
