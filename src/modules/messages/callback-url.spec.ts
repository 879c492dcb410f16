import { describe, expect, it } from 'vitest';
import { checkCallbackUrl, isInternalAddress, isLoopbackHost } from './callback-url';

const dev = { production: false };
const prod = { production: true };

describe('checkCallbackUrl', () => {
  it('accepts https anywhere', () => {
    expect(checkCallbackUrl('https://hooks.example.com/sms?x=1', prod)).toEqual({
      ok: true,
      url: 'https://hooks.example.com/sms?x=1',
    });
    expect(checkCallbackUrl('https://127.0.0.1/cb', dev).ok).toBe(true);
  });

  it('accepts http only for loopback outside production', () => {
    for (const u of [
      'http://127.0.0.1:8080/cb',
      'http://localhost/cb',
      'http://[::1]:9/cb',
      'http://api.localhost/x',
    ])
      expect(checkCallbackUrl(u, dev).ok).toBe(true);
    expect(checkCallbackUrl('http://example.com/cb', dev)).toEqual({
      ok: false,
      reason: 'must be an https URL (http is allowed only for loopback addresses outside production)',
    });
    expect(checkCallbackUrl('http://127.0.0.1/cb', prod)).toEqual({
      ok: false,
      reason: 'must be an https URL',
    });
  });

  it('refuses other schemes and non-URLs, saying why', () => {
    expect(checkCallbackUrl('ftp://example.com/x', dev)).toEqual({
      ok: false,
      reason: 'must be an https URL, not ftp:',
    });
    expect(checkCallbackUrl('example.com/cb', dev)).toEqual({
      ok: false,
      reason: '"example.com/cb" is not an absolute URL',
    });
    expect(checkCallbackUrl(`https://example.com/${'a'.repeat(3000)}`, dev).ok).toBe(false);
  });

  it('refuses internal address literals in production', () => {
    for (const u of [
      'https://10.0.0.5/cb',
      'https://172.20.1.1/cb',
      'https://192.168.1.1/cb',
      'https://169.254.169.254/latest',
      'https://[fd00::1]/cb',
      'https://[fe80::1]/cb',
      'https://[::ffff:10.0.0.1]/cb',
      'https://localhost/cb',
      'https://0.0.0.0/cb',
    ]) {
      const r = checkCallbackUrl(u, prod);
      expect(r.ok, u).toBe(false);
    }
    expect(checkCallbackUrl('https://172.32.0.1/cb', prod).ok).toBe(true);
    expect(checkCallbackUrl('https://8.8.8.8/cb', prod).ok).toBe(true);
  });
});

describe('address classes', () => {
  it('knows loopback', () => {
    expect(isLoopbackHost('127.1.2.3')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
  });
  it('knows internal ranges', () => {
    expect(isInternalAddress('100.64.0.1')).toBe(true);
    expect(isInternalAddress('100.128.0.1')).toBe(false);
    expect(isInternalAddress('example.com')).toBe(false);
  });
});
