// Signatures on Parley's status callbacks to customers: `Parley-Signature: t=<unix>,v1=<hex>` where
// hex = HMAC-SHA256(secret, `${t}.${body}`). While a rotated secret is still valid a second v1 is
// added so receivers can switch secrets without a gap. Pure; exported for customers and tests.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const PARLEY_SIGNATURE_HEADER = 'Parley-Signature';
/** How far a signature's timestamp may be from the receiver's clock (replay window). */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export function parleySignatureHex(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** The header value for a body, signed with every secret currently valid (newest first). */
export function signParleyPayload(secrets: readonly string[], body: string, now = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  return [`t=${t}`, ...secrets.map((s) => `v1=${parleySignatureHex(s, t, body)}`)].join(',');
}

export type ParleySignatureCheck =
  { ok: true; timestamp: number } | { ok: false; reason: 'missing' | 'malformed' | 'too_old' | 'mismatch' };

/**
 * Verifies a Parley-Signature header against the raw body (as received, before any JSON parsing)
 * and the receiver's secret. Any one matching v1 is enough.
 */
export function verifyParleySignature(
  header: string | undefined | null,
  body: string,
  secret: string,
  opts: { toleranceSeconds?: number; now?: Date } = {},
): ParleySignatureCheck {
  if (!header) return { ok: false, reason: 'missing' };
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === 't' && v && /^\d+$/.test(v)) t = Number(v);
    else if (k === 'v1' && v && /^[0-9a-f]{64}$/i.test(v)) sigs.push(v.toLowerCase());
  }
  if (t === undefined || sigs.length === 0) return { ok: false, reason: 'malformed' };
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - t) > (opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS))
    return { ok: false, reason: 'too_old' };
  const expected = Buffer.from(parleySignatureHex(secret, t, body), 'hex');
  const match = sigs.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  return match ? { ok: true, timestamp: t } : { ok: false, reason: 'mismatch' };
}
