import { describe, expect, it } from 'vitest';
import { OpenPart, indexParts, pickPart, sameHandset } from './receipt-match';

const part = (messageId: string, key: string, to: string, at: number, connectorId = 'smpp'): OpenPart => ({
  messageId,
  partIndex: 0,
  connectorId,
  receiptKey: key,
  to,
  sender: '+14155550100',
  submittedAt: new Date(at),
});

describe('pickPart', () => {
  it('matches only its connector and key', () => {
    const idx = indexParts([part('a', '5', '+14155550001', 1), part('b', '5', '+14155550002', 2, 'other')]);
    expect(pickPart({ connectorId: 'smpp', key: '5' }, idx)?.messageId).toBe('a');
    expect(pickPart({ connectorId: 'smpp', key: '6' }, idx)).toBeUndefined();
    expect(pickPart({ connectorId: 'smpp', key: undefined }, idx)).toBeUndefined();
    expect(pickPart({ connectorId: 'nope', key: '5' }, idx)).toBeUndefined();
  });

  it('takes only a part sent to the handset the receipt names, the newest of them', () => {
    const idx = indexParts([
      part('old-same', '7', '+14155550001', 1),
      part('new-other', '7', '+14155550002', 3),
      part('mid-same', '7', '+14155550001', 2),
    ]);
    const pick = (addresses?: (string | undefined)[]) =>
      pickPart({ connectorId: 'smpp', key: '7', addresses }, idx)?.messageId;
    expect(pick(['+14155550001'])).toBe('mid-same');
    expect(pick(['+14155550002', '72725'])).toBe('new-other');
    // An SMSC that swaps source and destination: the handset is the destination.
    expect(pick(['72725', '14155550001'])).toBe('mid-same');
    // No handset named (none, only a short code, only our own sender): the newest.
    expect(pick()).toBe('new-other');
    expect(pick(['', '72725'])).toBe('new-other');
    expect(pick(['', '14155550100'])).toBe('new-other');
    expect(pick(['+14155550001', '+14155550100'])).toBe('mid-same');
    // A handset no open part was sent to: the receipt is not theirs (a reused id whose own part is
    // not stored yet): nothing.
    expect(pick(['+4930000000'])).toBeUndefined();
  });
});

describe('sameHandset', () => {
  it('compares the last nine digits, so national and international forms agree', () => {
    expect(sameHandset('+14155550001', '14155550001')).toBe(true);
    expect(sameHandset('+447700900123', '07700900123')).toBe(true);
    expect(sameHandset('+447700900123', '7700900123')).toBe(true);
    expect(sameHandset('+14155550001', '+14155550002')).toBe(false);
    expect(sameHandset('72725', '+14155572725')).toBe(false);
    expect(sameHandset(undefined, '+1')).toBe(false);
  });
});
