import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signParleyPayload, verifyParleySignature } from './parley-signature';

const body = JSON.stringify({ message_id: '0b6e3a9e-4f7e-4d3c-9a51-1f8f2f4e2c11', status: 'delivered' });
const now = new Date('2026-11-26T18:00:00Z');

describe('Parley-Signature', () => {
  it('is HMAC-SHA256 over "timestamp.body", hex', () => {
    const h = signParleyPayload(['whsec_a'], body, now);
    const t = Math.floor(now.getTime() / 1000);
    const hex = createHmac('sha256', 'whsec_a').update(`${t}.${body}`).digest('hex');
    expect(h).toBe(`t=${t},v1=${hex}`);
    expect(verifyParleySignature(h, body, 'whsec_a', { now })).toEqual({ ok: true, timestamp: t });
  });

  it('carries one v1 per valid secret so either verifies during a rotation', () => {
    const h = signParleyPayload(['whsec_new', 'whsec_old'], body, now);
    expect(h.match(/v1=/g)).toHaveLength(2);
    expect(verifyParleySignature(h, body, 'whsec_new', { now }).ok).toBe(true);
    expect(verifyParleySignature(h, body, 'whsec_old', { now }).ok).toBe(true);
    expect(verifyParleySignature(h, body, 'whsec_other', { now })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuses a changed body, an old timestamp, and malformed headers', () => {
    const h = signParleyPayload(['s'], body, now);
    expect(verifyParleySignature(h, body + ' ', 's', { now }).ok).toBe(false);
    const later = new Date(now.getTime() + 5 * 60_000 + 1_000);
    expect(verifyParleySignature(h, body, 's', { now: later })).toEqual({ ok: false, reason: 'too_old' });
    expect(verifyParleySignature(h, body, 's', { now: new Date(now.getTime() + 299_000) }).ok).toBe(true);
    expect(verifyParleySignature(undefined, body, 's')).toEqual({ ok: false, reason: 'missing' });
    expect(verifyParleySignature('t=abc,v1=zz', body, 's')).toEqual({ ok: false, reason: 'malformed' });
  });
});
