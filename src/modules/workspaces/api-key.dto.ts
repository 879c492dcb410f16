// The shapes of /v1/keys: what a create asks for, when the key it asks for expires, and how a key
// is shown (its prefix, never its secret or hash).
import { z } from 'zod/v4';
import { createdKey, pageQuery } from '../../infra/http/pagination';
import { SHOWN_PREFIX_LENGTH } from './api-key';

export const MAX_KEY_DAYS = 3_650;
const DAY_MS = 86_400_000;

export const CreateKeyBody = z
  .object({
    name: z.string().trim().min(1).max(200).optional().describe('a label for the key'),
    expires_at: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('when the key stops working (ISO 8601, in the future)'),
    expires_in_days: z
      .number()
      .int()
      .min(1)
      .max(MAX_KEY_DAYS)
      .optional()
      .describe(`days until the key stops working, 1–${MAX_KEY_DAYS}`),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.expires_at !== undefined && b.expires_in_days !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['expires_in_days'],
        message: 'give expires_at or expires_in_days, not both',
      });
    }
  });
export type CreateKeyBody = z.infer<typeof CreateKeyBody>;

export const KeyListQuery = pageQuery(createdKey);

/** When a key asked for with `body` at `now` expires (null: never), or the issue with the request. */
export function expiryOf(
  body: Pick<CreateKeyBody, 'expires_at' | 'expires_in_days'>,
  now: number,
): { expiresAt: Date | null } | { issue: { path: string; message: string } } {
  if (body.expires_in_days !== undefined) return { expiresAt: new Date(now + body.expires_in_days * DAY_MS) };
  if (body.expires_at === undefined) return { expiresAt: null };
  const at = Date.parse(body.expires_at);
  if (!(at > now)) return { issue: { path: 'expires_at', message: 'must be in the future' } };
  if (at > now + MAX_KEY_DAYS * DAY_MS) {
    return { issue: { path: 'expires_at', message: `must be at most ${MAX_KEY_DAYS} days ahead` } };
  }
  return { expiresAt: new Date(at) };
}

/**
 * When a rotated key's replacement expires: as long after `now` as the old key's lifetime was
 * (rotation neither extends nor cuts a key's life), or never if the old key never expired.
 */
export function rotatedExpiry(old: { created_at: Date; expires_at: Date | null }, now: number): Date | null {
  if (!old.expires_at) return null;
  return new Date(now + Math.max(0, old.expires_at.getTime() - old.created_at.getTime()));
}

export interface KeyRecord {
  id: string;
  name: string | null;
  prefix: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface KeyView {
  id: string;
  name: string | null;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export function keyView(k: KeyRecord): KeyView {
  return {
    id: k.id,
    name: k.name,
    prefix: k.prefix.slice(0, SHOWN_PREFIX_LENGTH),
    created_at: k.created_at.toISOString(),
    expires_at: k.expires_at?.toISOString() ?? null,
    last_used_at: k.last_used_at?.toISOString() ?? null,
    revoked_at: k.revoked_at?.toISOString() ?? null,
  };
}
