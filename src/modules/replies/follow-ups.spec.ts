import { describe, expect, it } from 'vitest';
import { Routed, followUpsOf, revive } from './follow-ups';

const routed = (over: Partial<Routed> = {}): Routed => ({
  env: {
    id: '8a1c7d2e-0b9f-4c3a-9e5d-1f2a3b4c5d6e',
    connectorId: 'smpp',
    from: '+13125550101',
    to: '+14155550100',
    body: 'STOP',
    receivedAt: Date.parse('2026-11-26T20:00:00.123Z'),
  },
  workspaceId: 'ws-1',
  classification: { intent: 'opt_out', keyword: 'STOP', language: 'en', confidence: 1 },
  decision: {
    intent: 'opt_out',
    actions: [
      { kind: 'opt_out', scope: 'workspace' },
      { kind: 'auto_reply', template: 'You are unsubscribed.', purpose: 'opt_out_confirmation' },
    ],
  },
  match: {
    from: '+13125550101',
    to: '+14155550100',
    messageId: 'm-1',
    workspaceId: 'ws-1',
    campaignId: 'c-1',
    type: 'marketing',
    metadata: { order_id: 'A-1' },
    acceptedAt: new Date('2026-11-26T19:00:00.000Z'),
  },
  ...over,
});

/** As Postgres gives jsonb back: a JSON round trip. */
const stored = (r: Routed) => {
  const f = followUpsOf(r);
  return {
    id: r.env.id,
    workspaceId: r.workspaceId,
    connectorId: r.env.connectorId,
    from: r.env.from,
    to: r.env.to,
    body: r.env.body,
    receivedAt: new Date(r.env.receivedAt),
    followUps: JSON.parse(JSON.stringify(f)),
  };
};

describe('follow-ups', () => {
  it('keeps only what happens after the commit: consent changes are not follow-ups', () => {
    expect(followUpsOf(routed())?.decision.actions.map((a) => a.kind)).toEqual(['auto_reply']);
    const optInOnly = routed({ decision: { intent: 'opt_in', actions: [{ kind: 'opt_in' }] } });
    expect(followUpsOf(optInOnly)).toBeNull();
  });

  it('has none for a message of no workspace or not decided', () => {
    expect(followUpsOf(routed({ workspaceId: null }))).toBeNull();
    expect(followUpsOf(routed({ decision: undefined }))).toBeNull();
  });

  it('comes back from storage exactly as decided, match and times included', () => {
    const r = routed();
    const back = revive(stored(r));
    expect(back.env).toEqual(r.env);
    expect(back.workspaceId).toBe('ws-1');
    expect(back.match).toEqual(r.match);
    expect(back.match?.acceptedAt).toBeInstanceOf(Date);
    expect(back.classification).toEqual(r.classification);
    expect(back.decision).toEqual({ intent: 'opt_out', actions: [r.decision!.actions[1]] });
    const unmatched = revive(stored(routed({ match: undefined })));
    expect(unmatched.match).toBeUndefined();
  });
});
