import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from './config.schema';

describe('parseEnv', () => {
  it('has working local defaults', () => {
    const e = parseEnv({});
    expect(e.PARLEY_ROLES).toEqual(['api', 'dispatcher', 'receipts', 'router', 'scheduler']);
    expect(e.DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/parley');
    expect(e.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(e.KAFKA_OUTBOUND_PARTITIONS).toBe(12);
    expect(e.PORT).toBe(3000);
    expect(e.PARLEY_MIGRATE_ON_START).toBe(true);
  });

  it('picks roles, de-duplicated, and expands all', () => {
    expect(parseEnv({ PARLEY_ROLES: 'api, dispatcher,api' }).PARLEY_ROLES).toEqual(['api', 'dispatcher']);
    expect(parseEnv({ PARLEY_ROLES: 'router,all' }).PARLEY_ROLES).toHaveLength(5);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PARLEY_ROLES', 'api,mailer'],
    ['DATABASE_URL', 'mysql://x'],
    ['KAFKA_BROKERS', 'localhost'],
    ['PARLEY_MIGRATE_ON_START', 'maybe'],
    ['NODE_ENV', 'staging'],
  ])('names %s when it is %s', (variable, value) => {
    try {
      parseEnv({ [variable]: value });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues.map((i) => i.variable)).toContain(variable);
      expect((e as Error).message).toContain(variable);
    }
  });

  it('requires a real Twilio-style token in production', () => {
    expect(() => parseEnv({ NODE_ENV: 'production' })).toThrow(/TWILIO_AUTH_TOKEN/);
    expect(parseEnv({ NODE_ENV: 'production', TWILIO_AUTH_TOKEN: 'x' }).TWILIO_AUTH_TOKEN).toBe('x');
  });
});

describe('SMS-pumping guard settings', () => {
  it('defaults to US and Canada, no blocked prefix, no budget', () => {
    const env = parseEnv({});
    expect(env.PARLEY_DEFAULT_ALLOWED_COUNTRIES).toBe('US,CA');
    expect(env.PARLEY_BLOCKED_PREFIXES).toBe('');
    expect(env.PARLEY_DAILY_SEGMENT_BUDGET).toBeUndefined();
  });

  it('refuses unknown countries and prefixes that are not E.164', () => {
    expect(() => parseEnv({ PARLEY_DEFAULT_ALLOWED_COUNTRIES: 'US,XX' })).toThrow(
      /PARLEY_DEFAULT_ALLOWED_COUNTRIES/,
    );
    expect(() => parseEnv({ PARLEY_BLOCKED_PREFIXES: '1900' })).toThrow(/PARLEY_BLOCKED_PREFIXES/);
    expect(
      parseEnv({ PARLEY_BLOCKED_PREFIXES: '+1900, +4487', PARLEY_DAILY_SEGMENT_BUDGET: '5000' }),
    ).toMatchObject({
      PARLEY_DAILY_SEGMENT_BUDGET: 5000,
    });
  });
});
