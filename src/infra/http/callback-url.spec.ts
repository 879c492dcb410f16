import { describe, expect, it } from 'vitest';
import { ApiError } from './api-error';
import {
  assertCallbackUrls,
  checkCallbackUrl,
  isNonPublicAddress,
  MAX_CALLBACK_URL_LENGTH,
  refuseResolved,
} from './callback-url';

const reasonOf = (raw: string, production: boolean) => {
  const r = checkCallbackUrl(raw, { production });
  return r.ok ? undefined : r.reason;
};

describe('checkCallbackUrl', () => {
  it('takes https anywhere, http only to loopback in development', () => {
    expect(checkCallbackUrl('https://hooks.example.com/parley', { production: false }).ok).toBe(true);
    expect(checkCallbackUrl('http://127.0.0.1:8080/cb', { production: false }).ok).toBe(true);
    expect(checkCallbackUrl('http://localhost/cb', { production: false }).ok).toBe(true);
    expect(checkCallbackUrl('http://[::1]:9/cb', { production: false }).ok).toBe(true);
    expect(checkCallbackUrl('http://hooks.example.com/cb', { production: false }).ok).toBe(false);
    expect(checkCallbackUrl('ftp://hooks.example.com/cb', { production: false }).ok).toBe(false);
    expect(checkCallbackUrl('not a url', { production: false }).ok).toBe(false);
    expect(checkCallbackUrl('https://user:pw@hooks.example.com/', { production: false }).ok).toBe(false);
  });

  it('refuses http, loopback and private literals in production', () => {
    const prod = { production: true };
    expect(checkCallbackUrl('http://127.0.0.1/cb', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://localhost/cb', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://10.1.2.3/cb', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://169.254.169.254/latest/meta-data', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://[fd00::1]/cb', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://[::ffff:192.168.1.1]/cb', prod).ok).toBe(false);
    expect(checkCallbackUrl('https://93.184.215.14/cb', prod).ok).toBe(true);
    expect(checkCallbackUrl('https://hooks.example.com/cb', prod).ok).toBe(true);
  });
});

describe('the stored-URL rule, in every environment', () => {
  it.each([false, true])('refuses other schemes, credentials and metadata (production %s)', (production) => {
    expect(reasonOf('file:///etc/passwd', production)).toBe('must use https');
    expect(reasonOf('gopher://hooks.example.com/x', production)).toBe('must use https');
    expect(reasonOf('javascript:alert(1)', production)).toBe('must use https');
    expect(reasonOf('data:text/plain,hi', production)).toBe('must use https');
    expect(reasonOf('https://user:pass@hooks.example.com/cb', production)).toMatch(/credentials/);
    expect(reasonOf('https://user@hooks.example.com/cb', production)).toMatch(/credentials/);
    expect(reasonOf('http://169.254.169.254/latest/meta-data', production)).toMatch(/https/);
    expect(reasonOf('https://169.254.169.254/latest/meta-data', production)).toMatch(
      /link-local or metadata/,
    );
    expect(reasonOf('https://10.0.0.8/cb', production)).toMatch(/private/);
    expect(reasonOf('https://192.168.1.1/cb', production)).toMatch(/private/);
    expect(reasonOf('https://[fe80::1]/cb', production)).toMatch(/private/);
    expect(reasonOf('https://[::ffff:169.254.169.254]/cb', production)).toMatch(/private/);
    expect(reasonOf(`https://hooks.example.com/${'a'.repeat(MAX_CALLBACK_URL_LENGTH)}`, production)).toMatch(
      /at most 2048/,
    );
    expect(reasonOf(`https://hooks.example.com/${'a'.repeat(2000)}`, production)).toBeUndefined();
    expect(reasonOf('https://hooks.example.com/cb?x=1', production)).toBeUndefined();
  });

  it('allows loopback (http or https) only outside production', () => {
    expect(reasonOf('https://127.0.0.1/cb', false)).toBeUndefined();
    expect(reasonOf('https://127.0.0.1/cb', true)).toMatch(/loopback/);
    expect(reasonOf('http://localhost:8080/cb', true)).toBe('must use https');
  });

  it('throws the API 400 naming the first bad field, skipping absent ones', () => {
    expect(() =>
      assertCallbackUrls(
        [
          ['status_callback', undefined],
          ['reply_handlers.0.webhook', 'https://hooks.example.com/a'],
        ],
        { production: true },
      ),
    ).not.toThrow();
    try {
      assertCallbackUrls(
        [
          ['status_callback', 'https://hooks.example.com/a'],
          ['reply_handlers.1.webhook', 'gopher://x'],
        ],
        { production: false },
      );
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      const err = e as ApiError;
      expect(err.getStatus()).toBe(400);
      expect(err.getResponse()).toEqual({
        error: {
          code: 'validation_failed',
          message: 'reply_handlers.1.webhook: must use https',
          details: { issues: [{ path: 'reply_handlers.1.webhook', message: 'must use https' }] },
        },
      });
    }
  });
});

describe('isNonPublicAddress', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.1',
    '172.16.5.4',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '64:ff9b::a00:1',
    'garbage',
  ])('blocks %s', (ip) => expect(isNonPublicAddress(ip)).toBe(true));

  it.each(['8.8.8.8', '172.32.0.1', '93.184.215.14', '2606:4700:4700::1111', '::ffff:8.8.8.8'])(
    'allows %s',
    (ip) => expect(isNonPublicAddress(ip)).toBe(false),
  );

  it('refuses a name when any resolved address is non-public (DNS rebinding with two records)', () => {
    expect(refuseResolved(['8.8.8.8', '10.0.0.5'])).toMatch(/10\.0\.0\.5/);
    expect(refuseResolved(['8.8.8.8'])).toBeUndefined();
    expect(refuseResolved([])).toBeDefined();
  });
});
