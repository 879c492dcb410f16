import { describe, expect, it } from 'vitest';
import { OrphanCandidate, e164Forms, tieOrphans } from './orphan-match';

const at = new Date('2026-12-07T10:00:00Z');
const cand = (id: string, to: string, over: Partial<OrphanCandidate> = {}): OrphanCandidate => ({
  messageId: id,
  workspaceId: 'w',
  to,
  sender: '+14155550100',
  segments: 1,
  parts: 0,
  submittingAt: at,
  ...over,
});
const smpp = (_c: string, segments: number) => segments;

describe('tieOrphans', () => {
  it('ties a receipt to the one lost message to its handset', () => {
    const v = tieOrphans(
      [{ connectorId: 'smpp', addresses: ['13125550001', '14155550100'] }],
      () => [cand('a', '+13125550001')],
      smpp,
    );
    expect(v).toEqual([{ kind: 'match', candidate: cand('a', '+13125550001'), partIndex: 0 }]);
  });

  it('guesses nothing when two lost messages to one handset fit', () => {
    const v = tieOrphans(
      [{ connectorId: 'smpp', addresses: ['+13125550001'] }],
      () => [cand('b', '+13125550001'), cand('a', '+13125550001')],
      smpp,
    );
    expect(v).toEqual([{ kind: 'ambiguous', messageIds: ['a', 'b'] }]);
  });

  it('never takes our own sender address for the handset', () => {
    const v = tieOrphans(
      [{ connectorId: 'smpp', addresses: [undefined, '+14155550100'] }],
      () => [cand('a', '+13125550001')],
      smpp,
    );
    expect(v).toEqual([{ kind: 'none' }]);
  });

  it('gives a multipart message one part per receipt, and no more than it has', () => {
    const two = cand('a', '+13125550001', { segments: 2 });
    const r = { connectorId: 'smpp', addresses: ['+13125550001'] };
    const v = tieOrphans([r, r, r], () => [two], smpp);
    expect(v.map((x) => (x.kind === 'match' ? x.partIndex : x.kind))).toEqual([0, 1, 'none']);
  });

  it('counts the parts a message already has', () => {
    const v = tieOrphans(
      [{ connectorId: 'smpp', addresses: ['+13125550001'] }],
      () => [
        cand('full', '+13125550001', { parts: 1 }),
        cand('open', '+13125550001', { segments: 2, parts: 1 }),
      ],
      smpp,
    );
    expect(v[0]).toMatchObject({ kind: 'match', partIndex: 1, candidate: { messageId: 'open' } });
  });

  it('a provider message is one part however many segments', () => {
    const v = tieOrphans(
      [{ connectorId: 'http', addresses: ['+13125550001'] }],
      () => [cand('a', '+13125550001', { segments: 3, parts: 1 })],
      () => 1,
    );
    expect(v).toEqual([{ kind: 'none' }]);
  });

  it('takes the message the receipt names when it carries our id, and no other', () => {
    const v = tieOrphans(
      [{ connectorId: 'http', addresses: ['+13125550001'], messageId: 'b' }],
      () => [cand('a', '+13125550001'), cand('b', '+13125550001')],
      () => 1,
    );
    expect(v[0]).toMatchObject({ kind: 'match', candidate: { messageId: 'b' } });
  });
});

describe('e164Forms', () => {
  it('reads an address with or without its plus, and refuses short codes', () => {
    expect(e164Forms('13125550001')).toEqual(['+13125550001']);
    expect(e164Forms('+1 (312) 555-0001')).toEqual(['+13125550001']);
    expect(e164Forms('12345')).toEqual([]);
    expect(e164Forms(undefined)).toEqual([]);
  });
});
