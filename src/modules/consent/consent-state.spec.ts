import { describe, expect, it } from 'vitest';
import { ConsentEventLike, deriveConsentState, isSuppressed, summarize } from './consent-state';

const at = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m));
const ev = (kind: 'opt_in' | 'opt_out', m: number, sender?: string): ConsentEventLike => ({
  kind,
  scope: sender ? 'sender' : 'workspace',
  senderAddress: sender,
  source: kind === 'opt_in' ? 'import' : 'sms',
  occurredAt: at(m),
});

describe('consent state', () => {
  it('suppresses every sender after a workspace opt-out', () => {
    const s = deriveConsentState([ev('opt_in', 1), ev('opt_out', 2)]);
    expect(isSuppressed(s)).toBe(true);
    expect(isSuppressed(s, '+15550001')).toBe(true);
    expect(summarize(s.values()).status).toBe('opted_out');
  });

  it('suppresses only that sender after a sender opt-out', () => {
    const s = deriveConsentState([ev('opt_in', 1), ev('opt_out', 2, 'A')]);
    expect(isSuppressed(s, 'A')).toBe(true);
    expect(isSuppressed(s, 'B')).toBe(false);
    expect(isSuppressed(s)).toBe(false);
    expect(summarize(s.values()).senders).toEqual([
      { sender_address: 'A', status: 'opted_out', since: at(2), source: 'sms' },
    ]);
  });

  it('lets a later workspace opt-in clear every opt-out', () => {
    const s = deriveConsentState([ev('opt_out', 1, 'A'), ev('opt_out', 2), ev('opt_in', 3)]);
    expect(isSuppressed(s, 'A')).toBe(false);
    expect(isSuppressed(s)).toBe(false);
  });

  it('orders by occurrence, not arrival: an old opt-in never undoes a newer opt-out', () => {
    const s = deriveConsentState([ev('opt_out', 5), ev('opt_in', 1)]);
    expect(isSuppressed(s)).toBe(true);
    const late = deriveConsentState([ev('opt_in', 5), ev('opt_out', 1, 'A')]);
    expect(isSuppressed(late, 'A')).toBe(false);
  });

  it('clears only the sender when a sender-scoped opt-in arrives', () => {
    const s = deriveConsentState([ev('opt_out', 1, 'A'), ev('opt_out', 2), ev('opt_in', 3, 'A')]);
    expect(isSuppressed(s, 'A')).toBe(true); // the workspace opt-out still stands
    expect(s.get('A')?.status).toBe('opted_in');
  });

  it('has no state without events', () => {
    expect(summarize(deriveConsentState([]).values())).toEqual({
      status: 'none',
      since: null,
      source: null,
      senders: [],
    });
  });
});
