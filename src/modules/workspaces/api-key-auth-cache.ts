// What a process remembers of API-key checks, so most requests skip the database. The bound is the
// point: a key revoked or expired elsewhere (another process, the CLI) stops working on every
// process within AUTH_CACHE_MS, and an expiring key is never served past its expiry. `last_used_at`
// is written at most once a minute per key, not on every request. Pure: the caller passes the time.
import type { Workspace } from './workspace.repository';

/** How long a successful check is reused: the longest a revoked key may still pass elsewhere. */
export const AUTH_CACHE_MS = 5_000;
/** How long an unknown key is remembered as unknown (bounds a flood of bad keys' lookups). */
export const REFUSAL_CACHE_MS = 2_000;
/** The least time between two writes of one key's `last_used_at`. */
export const LAST_USED_EVERY_MS = 60_000;

/** A key that passed: its id, its workspace, and when it expires (null: never). */
export interface KeyAuth {
  keyId: string;
  workspace: Workspace;
  expiresAt: Date | null;
}

export class KeyAuthCache {
  private entries = new Map<string, { auth: KeyAuth | undefined; until: number }>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The remembered answer for a key hash (`auth` undefined: refused), or undefined on a miss. */
  get(hash: string, now: number): { auth: KeyAuth | undefined } | undefined {
    const hit = this.entries.get(hash);
    if (!hit) return undefined;
    if (hit.until <= now) {
      this.entries.delete(hash);
      return undefined;
    }
    return { auth: hit.auth };
  }

  set(hash: string, auth: KeyAuth | undefined, now: number): void {
    let until = now + (auth ? AUTH_CACHE_MS : REFUSAL_CACHE_MS);
    if (auth?.expiresAt) until = Math.min(until, auth.expiresAt.getTime());
    if (until <= now) return;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(hash, { auth, until });
  }

  /** Forgets a key at once (revoked by this process). */
  forgetKey(keyId: string): void {
    for (const [hash, e] of this.entries) if (e.auth?.keyId === keyId) this.entries.delete(hash);
  }
}

/** Says when a key's use is due to be written: the first time, then once per LAST_USED_EVERY_MS. */
export class LastUsedThrottle {
  private written = new Map<string, number>();

  constructor(private readonly maxEntries = 10_000) {}

  due(keyId: string, now: number): boolean {
    const last = this.written.get(keyId);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return false;
    if (this.written.size >= this.maxEntries) this.written.clear();
    this.written.set(keyId, now);
    return true;
  }
}
