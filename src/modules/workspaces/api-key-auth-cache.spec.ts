import { describe, expect, it } from 'vitest';
import {
  AUTH_CACHE_MS,
  KeyAuth,
  KeyAuthCache,
  LAST_USED_EVERY_MS,
  LastUsedThrottle,
} from './api-key-auth-cache';

const ws = { id: 'w1', name: 'acme' };
const auth = (expiresAt: Date | null = null, keyId = 'k1'): KeyAuth => ({ keyId, workspace: ws, expiresAt });

describe('KeyAuthCache', () => {
  it('reuses a passed check for at most 5 seconds', () => {
    expect(AUTH_CACHE_MS).toBeLessThanOrEqual(5_000);
    const c = new KeyAuthCache();
    c.set('h', auth(), 1_000);
    expect(c.get('h', 1_000 + AUTH_CACHE_MS - 1)?.auth?.keyId).toBe('k1');
    expect(c.get('h', 1_000 + AUTH_CACHE_MS)).toBeUndefined();
  });

  it('never serves a key past its expiry', () => {
    const c = new KeyAuthCache();
    c.set('h', auth(new Date(2_000)), 1_000);
    expect(c.get('h', 1_999)?.auth).toBeDefined();
    expect(c.get('h', 2_000)).toBeUndefined();
    c.set('x', auth(new Date(500)), 1_000);
    expect(c.get('x', 1_000)).toBeUndefined();
  });

  it('remembers a refusal briefly, and forgets a revoked key at once', () => {
    const c = new KeyAuthCache();
    c.set('bad', undefined, 0);
    expect(c.get('bad', 1)).toEqual({ auth: undefined });
    c.set('h', auth(null, 'k9'), 0);
    c.forgetKey('k9');
    expect(c.get('h', 1)).toBeUndefined();
  });

  it('stays bounded in size', () => {
    const c = new KeyAuthCache(2);
    c.set('a', auth(), 0);
    c.set('b', auth(), 0);
    c.set('c', auth(), 0);
    expect(c.get('a', 1)).toBeUndefined();
    expect(c.get('c', 1)).toBeDefined();
  });
});

describe('LastUsedThrottle', () => {
  it('lets one write per key through each minute', () => {
    const t = new LastUsedThrottle();
    expect(t.due('k1', 0)).toBe(true);
    expect(t.due('k1', 1_000)).toBe(false);
    expect(t.due('k2', 1_000)).toBe(true);
    expect(t.due('k1', LAST_USED_EVERY_MS - 1)).toBe(false);
    expect(t.due('k1', LAST_USED_EVERY_MS)).toBe(true);
  });
});
