// Workspaces and their API keys: creating keys (shown once) and resolving a key to its workspace.
import { Injectable } from '@nestjs/common';
import { hashApiKey, newApiKey } from './api-key';
import { Workspace, WorkspaceRepository } from './workspace.repository';

const CACHE_TTL_MS = 30_000;

@Injectable()
export class WorkspaceService {
  // Keys are checked on every request; a short cache keeps that off the database. A revoked key
  // stops working within the TTL.
  private cache = new Map<string, { ws: Workspace | undefined; until: number }>();

  constructor(private readonly repo: WorkspaceRepository) {}

  async createKey(workspaceName: string, label?: string): Promise<{ workspace: Workspace; key: string }> {
    const name = workspaceName.trim();
    if (!name) throw new Error('workspace name must not be empty');
    const workspace = await this.repo.upsertByName(name);
    const { key, hash, prefix } = newApiKey();
    await this.repo.insertKey(workspace.id, hash, prefix, label);
    return { workspace, key };
  }

  async authenticate(key: string): Promise<Workspace | undefined> {
    const hash = hashApiKey(key);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.ws;
    const ws = await this.repo.findByKeyHash(hash);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { ws, until: now + (ws ? CACHE_TTL_MS : 2_000) });
    return ws;
  }

  get(id: string): Promise<Workspace | undefined> {
    return this.repo.findById(id);
  }
}
