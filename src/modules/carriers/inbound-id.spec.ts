import { describe, expect, it } from 'vitest';
import { carrierInboundId } from './inbound-id';

const mo = {
  connectorId: 'smpp-alpha',
  from: '+13125550101',
  to: '+14155550100',
  carrierMessageId: 'mo-7f3a',
};

describe('carrierInboundId', () => {
  it('gives an MO offered again by the carrier the same id', () => {
    const first = carrierInboundId(mo);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(carrierInboundId({ ...mo })).toBe(first);
    expect(carrierInboundId({ ...mo, carrierMessageId: ' mo-7f3a ' })).toBe(first);
  });

  it('keeps apart MOs that differ in any part of the carrier identity', () => {
    const first = carrierInboundId(mo);
    expect(carrierInboundId({ ...mo, carrierMessageId: 'mo-7f3b' })).not.toBe(first);
    expect(carrierInboundId({ ...mo, connectorId: 'smpp-beta' })).not.toBe(first);
    expect(carrierInboundId({ ...mo, from: '+13125550102' })).not.toBe(first);
    expect(carrierInboundId({ ...mo, to: '+14155550101' })).not.toBe(first);
  });

  it('has no id to give when the carrier sent none, so two identical texts stay two messages', () => {
    expect(carrierInboundId({ ...mo, carrierMessageId: undefined })).toBeUndefined();
    expect(carrierInboundId({ ...mo, carrierMessageId: '  ' })).toBeUndefined();
  });
});
