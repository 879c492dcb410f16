import { describe, expect, it } from 'vitest';
import type { Recipient } from '../audiences/segment.repository';
import { CampaignRules, verdictsFor } from './recipient-message';
import { compileTemplate } from '../templates/template';

const recipient = (id: number, over: Partial<Recipient & { optedOut: boolean }> = {}) => ({
  id,
  e164: `+1312555${String(id).padStart(4, '0')}`,
  country: 'US',
  line_type: null,
  first_name: `N${id}`,
  last_name: null,
  email: null,
  timezone: null,
  attributes: {},
  consent: 'opted_in' as const,
  optedOut: false,
  ...over,
});

describe('verdictsFor', () => {
  const rules = (over: Partial<CampaignRules> = {}): CampaignRules => ({
    template: compileTemplate('Hi {{first_name}}, {{tier|friend}}: 20% off today.'),
    marketing: true,
    carrierOf: (e164) => (e164.startsWith('+1312') ? { id: 'us-alpha' } : undefined),
    ...over,
  });

  it('decides each recipient in page order: opt-out, route, consent, template', () => {
    const page = [
      recipient(1),
      recipient(2, { optedOut: true }),
      recipient(3, { e164: '+442071234567' }),
      recipient(4, { consent: null }),
      recipient(5, { first_name: null }),
      recipient(6, { attributes: { tier: 'Gold' } }),
    ];
    const out = [...verdictsFor(page, rules())].map((v) =>
      v.ok ? [v.recipient.id, v.carrierId, v.message.text] : [v.recipient.id, v.reason, v.missing],
    );
    expect(out).toEqual([
      [1, 'us-alpha', 'Hi N1, friend: 20% off today.'],
      [2, 'opted_out', undefined],
      [3, 'no_route', undefined],
      [4, 'not_opted_in', undefined],
      [5, 'missing_variables', ['first_name']],
      [6, 'us-alpha', 'Hi N6, Gold: 20% off today.'],
    ]);
  });

  it('gives marketing messages the recipient’s zone and legal window, transactional ones none', () => {
    const [m] = [...verdictsFor([recipient(1)], rules())];
    expect(m.ok && [m.message.timezone, m.message.window]).toEqual([
      'America/Chicago',
      { start: '08:00', end: '21:00' },
    ]);
    const [t] = [...verdictsFor([recipient(1, { consent: null })], rules({ marketing: false }))];
    expect(t.ok && [t.message.segments, t.message.timezone, t.message.window]).toEqual([
      1,
      undefined,
      undefined,
    ]);
  });

  it('refuses a message longer than the campaign limit unless long messages are allowed', () => {
    const long = rules({ template: compileTemplate('x'.repeat(153 * 11)) });
    expect([...verdictsFor([recipient(1)], long)][0]).toMatchObject({ ok: false, reason: 'invalid' });
    const allowed = [...verdictsFor([recipient(1)], { ...long, allowLong: true })][0];
    expect(allowed.ok && allowed.message.segments).toBe(11);
  });

  it('excludes a destination the workspace may not text before looking for a route', () => {
    const page = [recipient(1), recipient(2), recipient(3)];
    const refuse = (e164: string) =>
      e164.endsWith('0001')
        ? ('country_not_allowed' as const)
        : e164.endsWith('0002')
          ? ('prefix_blocked' as const)
          : undefined;
    const out = [...verdictsFor(page, rules({ refuseDestination: refuse }))];
    expect(out.map((v) => (v.ok ? 'ok' : v.reason))).toEqual(['country_not_allowed', 'prefix_blocked', 'ok']);
  });
});
