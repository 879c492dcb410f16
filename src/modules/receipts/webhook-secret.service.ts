// Each workspace's status-callback signing secret: created on first use, rotated on request with
// the old one signing alongside for a day so receivers can switch without dropping callbacks. At
// most two are live (the repository retires the oldest when a rotation would make three).
import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { WebhookSecret, WebhookSecretRepository } from './webhook-secret.repository';

export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;
const CACHE_MS = 5_000;

function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

@Injectable()
export class WebhookSecretService {
  // Callbacks sign with these on every attempt; a short cache keeps the database out of it. After
  // a rotation the process that rotated drops its entry; others pick the new secret up within
  // CACHE_MS, during which the old one is still valid anyway.
  private cache = new Map<string, { secrets: WebhookSecret[]; until: number }>();

  constructor(private readonly repo: WebhookSecretRepository) {}

  /** The current secret first, then rotated ones still valid. */
  async valid(workspaceId: string): Promise<WebhookSecret[]> {
    const hit = this.cache.get(workspaceId);
    if (hit && hit.until > Date.now()) return hit.secrets;
    let secrets = await this.repo.valid(workspaceId);
    if (!secrets.some((s) => s.expiresAt === null)) {
      await this.repo.ensureCurrent(workspaceId, newSecret());
      secrets = await this.repo.valid(workspaceId);
    }
    // Current first whatever the creation times say.
    secrets.sort((a, b) => Number(a.expiresAt !== null) - Number(b.expiresAt !== null));
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(workspaceId, { secrets, until: Date.now() + CACHE_MS });
    return secrets;
  }

  async rotate(workspaceId: string): Promise<WebhookSecret[]> {
    await this.repo.rotate(workspaceId, newSecret(), ROTATION_GRACE_MS);
    this.cache.delete(workspaceId);
    return this.valid(workspaceId);
  }
}
