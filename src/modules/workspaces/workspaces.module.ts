// Workspaces own tenancy: API keys, the authenticated workspace of each request (ApiKeyGuard runs
// before every route of the app; controllers read the workspace with @CurrentWorkspace()), and
// workspace settings.
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

@Module({
  providers: [
    WorkspaceRepository,
    WorkspaceService,
    ApiKeyRepository,
    ApiKeyService,
    { provide: APP_GUARD, useClass: ApiKeyGuard },
  ],
  controllers: [WorkspaceController, WorkspaceSettingsController, ApiKeysController],
  exports: [WorkspaceRepository],
})
export class WorkspacesModule {}
