// API keys: random, shown once, stored only as a SHA-256 hash (keys are high-entropy, so a fast
// hash is enough and lets every request be checked with one indexed lookup).
import { createHash, randomBytes } from 'node:crypto';

export const KEY_PREFIX = 'prl_';
/** How much of a key lists show: `prl_` and 4 characters of its 32 random ones. */
export const SHOWN_PREFIX_LENGTH = 8;

export function newApiKey(): { key: string; hash: string; prefix: string } {
  const key = KEY_PREFIX + randomBytes(24).toString('base64url');
  return { key, hash: hashApiKey(key), prefix: key.slice(0, SHOWN_PREFIX_LENGTH) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The key from an Authorization header (one reading of Bearer tokens for every guard). */
export { bearerToken } from '../../infra/http/request-auth';
