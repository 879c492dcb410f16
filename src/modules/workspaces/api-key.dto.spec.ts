import { describe, expect, it } from 'vitest';
import { CreateKeyBody, expiryOf, keyView, rotatedExpiry } from './api-key.dto';

const DAY = 86_400_000;
const now = Date.parse('2026-12-07T12:00:00Z');

describe('CreateKeyBody', () => {
  it('takes an optional name and one way to expire', () => {
    expect(CreateKeyBody.safeParse({}).success).toBe(true);
    expect(CreateKeyBody.safeParse({ name: 'ci', expires_in_days: 30 }).success).toBe(true);
    expect(CreateKeyBody.safeParse({ expires_at: '2027-01-01T00:00:00Z' }).success).toBe(true);
  });

  it('names the field it refuses', () => {
    const path = (v: unknown) => {
      const r = CreateKeyBody.safeParse(v);
      return r.success ? undefined : r.error.issues[0].path.join('.');
    };
    expect(path({ expires_in_days: 0 })).toBe('expires_in_days');
    expect(path({ expires_in_days: 3651 })).toBe('expires_in_days');
    expect(path({ expires_in_days: 1.5 })).toBe('expires_in_days');
    expect(path({ expires_at: 'tomorrow' })).toBe('expires_at');
    expect(path({ name: '  ' })).toBe('name');
    expect(path({ expires_at: '2027-01-01T00:00:00Z', expires_in_days: 2 })).toBe('expires_in_days');
  });
});

describe('expiryOf', () => {
  it('counts days from now, takes a future instant, and never expires without either', () => {
    expect(expiryOf({ expires_in_days: 2 }, now)).toEqual({ expiresAt: new Date(now + 2 * DAY) });
    expect(expiryOf({ expires_at: '2026-12-08T00:00:00+02:00' }, now)).toEqual({
      expiresAt: new Date('2026-12-07T22:00:00Z'),
    });
    expect(expiryOf({}, now)).toEqual({ expiresAt: null });
  });

  it('refuses a past instant or one beyond ten years', () => {
    expect(expiryOf({ expires_at: '2026-12-07T11:59:59Z' }, now)).toMatchObject({
      issue: { path: 'expires_at' },
    });
    expect(expiryOf({ expires_at: '2040-01-01T00:00:00Z' }, now)).toMatchObject({
      issue: { path: 'expires_at' },
    });
  });
});

describe('rotatedExpiry', () => {
  it('gives the new key the old key’s lifetime from now', () => {
    const created_at = new Date(now - 10 * DAY);
    expect(rotatedExpiry({ created_at, expires_at: new Date(now + 20 * DAY) }, now)).toEqual(
      new Date(now + 30 * DAY),
    );
    expect(rotatedExpiry({ created_at, expires_at: null }, now)).toBeNull();
  });
});

describe('keyView', () => {
  it('shows 8 characters of the key and ISO times', () => {
    const v = keyView({
      id: 'k',
      name: null,
      prefix: 'prl_abcdef',
      created_at: new Date(now),
      expires_at: null,
      last_used_at: null,
      revoked_at: new Date(now),
    });
    expect(v.prefix).toBe('prl_abcd');
    expect(v.revoked_at).toBe('2026-12-07T12:00:00.000Z');
  });
});
