import { describe, expect, it } from 'vitest';
import { checkCallbackUrl, isNonPublicAddress, refuseResolved } from './callback-url';

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
