import { describe, expect, it } from 'vitest';
import type { Connector } from '../carriers/connector';
import type { OutboundEnvelope } from '../messages/message.types';
import { LaneLoad } from './flight';
import { IntakeContext, IntakeRecord, decide } from './intake';
import { SegmentRatePolicy } from './rate.policy';
import { DEFAULT_RATE_TUNING } from '../rates/token-bucket';

const carrier = { id: 'alpha', prefixes: ['+1'], segments_per_second: 100 };
const sender = {
  address: '+14155550100',
  kind: 'long_code' as const,
  segments_per_second: 50,
  connector: 'smpp',
  workspaces: [],
  smart_encoding: false,
};
const ctx: IntakeContext = {
  carrierOf: (e164) => (e164.startsWith('+1') ? carrier : undefined),
  senderByAddress: (a) => (a === sender.address ? sender : undefined),
  connector: () => ({ id: 'smpp' }) as Connector,
  policy: new SegmentRatePolicy(DEFAULT_RATE_TUNING),
  loadOf: () => new LaneLoad(),
};
const NOW = Date.UTC(2026, 11, 7, 15, 0); // 10:00 in New York

const env = (over: Partial<OutboundEnvelope> = {}): OutboundEnvelope => ({
  id: '00000000-0000-4000-8000-000000000001',
  workspaceId: '00000000-0000-4000-8000-0000000000aa',
  to: '+14155551234',
  from: sender.address,
  body: 'hello',
  encoding: 'GSM-7',
  segments: 1,
  type: 'transactional',
  acceptedAt: NOW - 1_000,
  ...over,
});
const rec = (value: unknown): IntakeRecord => ({
  ref: { topic: 't', partition: 0, offset: '1', generation: 1, epoch: '1' },
  key: null,
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

describe('intake', () => {
  it('sets aside what is not a message, with the reason', () => {
    expect(decide(rec('{nope'), 'bulk', NOW, ctx)).toMatchObject({
      kind: 'set_aside',
      reason: expect.stringMatching(/^not JSON/),
    });
    expect(decide(rec({ ...env(), to: 'x' }), 'bulk', NOW, ctx)).toMatchObject({
      kind: 'set_aside',
      reason: expect.stringContaining('to'),
    });
  });

  it('refuses for good what can never leave', () => {
    const refusal = (e: OutboundEnvelope) => {
      const d = decide(rec(e), 'bulk', NOW, ctx);
      return d.kind === 'refuse' ? d.refusal.errorCode : d.kind;
    };
    expect(refusal(env({ validUntil: NOW - 1 }))).toBe('validity_expired');
    expect(refusal(env({ to: '+447700900123' }))).toBe('no_route');
    expect(refusal(env({ from: '+14155550999' }))).toBe('unknown_sender');
    expect(
      refusal(
        env({ type: 'marketing', quietHours: { start: '08:00', end: '21:00', timezone: 'Not/AZone' } }),
      ),
    ).toBe('invalid_quiet_hours');
  });

  it('holds a marketing message outside its window until it opens; a transactional one flies', () => {
    const night = { start: '22:00', end: '23:00', timezone: 'America/New_York' };
    const held = decide(rec(env({ type: 'marketing', quietHours: night })), 'bulk', NOW, ctx);
    expect(held.kind).toBe('hold');
    if (held.kind === 'hold') expect(held.releaseAt.toISOString()).toBe('2026-12-08T03:00:00.000Z');
    expect(decide(rec(env({ type: 'transactional', quietHours: night })), 'bulk', NOW, ctx).kind).toBe('fly');
  });

  it('makes a flight paying into its carrier, sender and campaign buckets', () => {
    const d = decide(
      rec(
        env({
          campaignId: '00000000-0000-4000-8000-0000000000cc',
          campaignMaxSegmentsPerSecond: 10,
          campaignWeight: 3,
        }),
      ),
      'bulk',
      NOW,
      ctx,
    );
    expect(d.kind).toBe('fly');
    if (d.kind !== 'fly') return;
    expect(d.flight.buckets.map((b) => b.key.split(':')[0])).toEqual(['carrier', 'sender', 'campaign']);
    expect(d.flight).toMatchObject({
      state: 'queued',
      taken: false,
      lane: 'bulk',
      weight: 3,
      spenderWeight: 3,
      carrierId: 'alpha',
    });
    const plain = decide(rec(env()), 'priority', NOW, ctx);
    if (plain.kind === 'fly') expect(plain.flight.buckets).toHaveLength(2);
  });
});
