import { describe, expect, it } from 'vitest';
import { inboundEnvelopeOf, readInboundRecord, visibleText } from './inbound-envelope';

const mo = { connectorId: 'smpp', from: '+14155550001', to: '+14155550100', receivedAt: 1_700_000_000_000 };

describe('inbound envelopes', () => {
  it('replaces NUL, unpaired surrogates and noncharacters visibly and keeps the text as evidence', () => {
    const e = inboundEnvelopeOf({ ...mo, body: 'STOP\u0000now \ud800 \uffff ok 😀' });
    expect(e.body).toBe('STOP\ufffdnow \ufffd \ufffd ok 😀');
    expect(e.bodyRaw).toBe('STOP\\u0000now \\ud800 \\uffff ok 😀');
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('leaves a clean text alone and names an MO the carrier identified the same way twice', () => {
    const a = inboundEnvelopeOf({ ...mo, body: 'YES', carrierMessageId: 'mo-1' });
    const b = inboundEnvelopeOf({ ...mo, body: 'YES', carrierMessageId: 'mo-1' });
    expect(a.body).toBe('YES');
    expect(a.bodyRaw).toBeUndefined();
    expect(a.id).toBe(b.id);
    expect(visibleText('plain').replaced).toBe(false);
  });

  it('reads records back safely, or says why not', () => {
    const ok = readInboundRecord(
      Buffer.from(
        JSON.stringify({ ...mo, id: inboundEnvelopeOf({ ...mo, body: 'x' }).id, body: 'a\u0000b' }),
      ),
    );
    expect(ok).toMatchObject({ ok: true, envelope: { body: 'a\ufffdb', bodyRaw: 'a\\u0000b' } });
    expect(readInboundRecord(Buffer.from('{not json'))).toEqual({ ok: false, reason: 'not JSON' });
    expect(readInboundRecord(null)).toEqual({ ok: false, reason: 'not JSON' });
    expect(readInboundRecord(Buffer.from(JSON.stringify({ ...mo, id: 'x', body: '' })))).toEqual({
      ok: false,
      reason: 'id is not a UUID',
    });
    expect(readInboundRecord(Buffer.from(JSON.stringify({ ...mo, body: 1 })))).toMatchObject({ ok: false });
  });
});
