// A workspace's API keys: created (the key is answered once; only its hash is kept), listed,
// revoked, rotated, and checked on every request. Checks are cached per process for at most
// AUTH_CACHE_MS (5 s), so a key revoked or expired anywhere fails on every process within 5 s
// (at once on the process that revoked it); `last_used_at` is written at most once a minute per key.
import { Injectable, Optional } from '@nestjs/common';
import { AppLogger } from '../../infra/logging/app-logger';
import { hashApiKey, newApiKey } from './api-key';
import { KeyAuth, KeyAuthCache, LastUsedThrottle } from './api-key-auth-cache';
import type { KeyRecord } from './api-key.dto';
import { rotatedExpiry } from './api-key.dto';
import { ApiKeyRepository } from './api-key.repository';

@Injectable()
export class ApiKeyService {
  private readonly cache = new KeyAuthCache();
  private readonly lastUsed = new LastUsedThrottle();

  constructor(
    private readonly repo: ApiKeyRepository,
    @Optional() private readonly log?: AppLogger,
  ) {}

  async create(
    workspaceId: string,
    opts: { name?: string | null; expiresAt?: Date | null } = {},
  ): Promise<{ record: KeyRecord; key: string }> {
    const { key, hash, prefix } = newApiKey();
    const record = await this.repo.insert(workspaceId, {
      hash,
      prefix,
      name: opts.name ?? null,
      expiresAt: opts.expiresAt ?? null,
    });
    return { record, key };
  }

  list(...args: Parameters<ApiKeyRepository['list']>) {
    return this.repo.list(...args);
  }

  async revoke(workspaceId: string, id: string): Promise<KeyRecord | undefined> {
    const r = await this.repo.revoke(workspaceId, id);
    if (r) this.cache.forgetKey(id);
    return r;
  }

  /** A new key with the old one's name and lifetime; the old one is revoked in the same transaction. */
  async rotate(workspaceId: string, id: string): Promise<{ record: KeyRecord; key: string } | undefined> {
    const old = await this.repo.find(workspaceId, id);
    if (!old || old.revoked_at) return undefined;
    const { key, hash, prefix } = newApiKey();
    const record = await this.repo.replace(workspaceId, id, {
      hash,
      prefix,
      name: old.name,
      expiresAt: rotatedExpiry(old, Date.now()),
    });
    if (!record) return undefined;
    this.cache.forgetKey(id);
    return { record, key };
  }

  /** The workspace a key works for now, or undefined (unknown, revoked or expired). */
  async authenticate(key: string): Promise<KeyAuth | undefined> {
    const hash = hashApiKey(key);
    const now = Date.now();
    const hit = this.cache.get(hash, now);
    const auth = hit ? hit.auth : await this.repo.findUsable(hash);
    if (!hit) this.cache.set(hash, auth, now);
    if (auth && this.lastUsed.due(auth.keyId, now)) {
      this.repo.touch(auth.workspace.id, auth.keyId).catch((err: unknown) => {
        this.log?.pino.warn({ err, keyId: auth.keyId }, 'could not record the API key use');
      });
    }
    return auth;
  }

  workspaceOfKey(id: string): Promise<string | undefined> {
    return this.repo.workspaceOfKey(id);
  }
}
