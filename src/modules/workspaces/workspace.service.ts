// Workspaces: creating one with its first API key (the CLI's `keys create`, tests, the demo) and
// reading one. The keys themselves are ApiKeyService's.
import { Injectable } from '@nestjs/common';
import type { Db } from '../../infra/db/db';
import { ApiKeyRepository } from './api-key.repository';
import { ApiKeyService } from './api-key.service';
import { Workspace, WorkspaceRepository } from './workspace.repository';

@Injectable()
export class WorkspaceService {
  constructor(
    private readonly repo: WorkspaceRepository,
    private readonly keys: ApiKeyService,
  ) {}

  /** The service outside Nest (the CLI, load tests), on the given database. */
  static on(db: Db): WorkspaceService {
    return new WorkspaceService(new WorkspaceRepository(db), new ApiKeyService(new ApiKeyRepository(db)));
  }

  /** A new key for the workspace of that name (created if needed); the key is shown once. */
  async createKey(
    workspaceName: string,
    name?: string,
    expiresAt?: Date | null,
  ): Promise<{ workspace: Workspace; key: string; id: string }> {
    const wsName = workspaceName.trim();
    if (!wsName) throw new Error('workspace name must not be empty');
    const workspace = await this.repo.upsertByName(wsName);
    const { record, key } = await this.keys.create(workspace.id, { name, expiresAt });
    return { workspace, key, id: record.id };
  }

  get(id: string): Promise<Workspace | undefined> {
    return this.repo.findById(id);
  }
}
