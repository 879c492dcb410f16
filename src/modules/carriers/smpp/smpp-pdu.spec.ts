import { describe, expect, it } from 'vitest';
import { smpp } from './smpp-lib';
import {
  ConcatAssembler,
  classifyStatus,
  concatInfoOf,
  concatUdh,
  decodeText,
  encodeText,
  fromSmppAddress,
  messageOf,
  splitUdh,
  statusName,
  toSmppAddress,
} from './smpp-pdu';

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENSION = '\f^{}\\[~]|€';

describe('GSM-7 and UCS-2 short_message coding', () => {
  it('round-trips the whole GSM basic and extension table, one septet per octet', () => {
    const text = GSM_BASIC + GSM_EXTENSION;
    const octets = encodeText(text, 'GSM-7');
    expect(octets.length).toBe(GSM_BASIC.length + 2 * GSM_EXTENSION.length);
    expect([...octets].every((o) => o < 0x80)).toBe(true);
    expect(decodeText(octets, 0)).toBe(text);
  });

  it('puts extension characters behind ESC with their table code', () => {
    expect([...encodeText('€[', 'GSM-7')]).toEqual([0x1b, 0x65, 0x1b, 0x3c]);
    expect([...encodeText('@a', 'GSM-7')]).toEqual([0x00, 0x61]);
  });

  it('writes UCS-2 big-endian, surrogate pairs as two code units', () => {
    expect([...encodeText('Ж😀', 'UCS-2')]).toEqual([0x04, 0x16, 0xd8, 0x3d, 0xde, 0x00]);
    expect(decodeText(encodeText('Привет 😀', 'UCS-2'), 8)).toBe('Привет 😀');
  });
});

describe('concatenation UDH', () => {
  it('builds the 8-bit reference element and reads it back with the text', () => {
    const udh = concatUdh(0x1a7, 3, 2);
    expect([...udh]).toEqual([0x05, 0x00, 0x03, 0xa7, 3, 2]);
    const { udh: ies, body } = splitUdh(Buffer.concat([udh, Buffer.from('hi')]));
    expect(body.toString()).toBe('hi');
    expect(concatInfoOf(ies)).toEqual({ reference: 0xa7, total: 3, seq: 2 });
  });

  it('reads the 16-bit reference element too', () => {
    expect(concatInfoOf([Buffer.from([0x08, 0x04, 0x12, 0x34, 2, 1])])).toEqual({
      reference: 0x1234,
      total: 2,
      seq: 1,
    });
    expect(concatInfoOf([Buffer.from([0x24, 0x01, 0x01])])).toBeUndefined();
  });

  it('survives a round trip through the smpp package as a submit_sm', () => {
    const pdu = new smpp.PDU('submit_sm', {
      destination_addr: '14155550100',
      esm_class: 0x40,
      data_coding: 8,
      short_message: Buffer.concat([concatUdh(9, 2, 1), encodeText('Grüße 😀', 'UCS-2')]),
    });
    const parsed = new smpp.PDU(pdu.toBuffer());
    const m = messageOf(parsed);
    expect(m.text).toBe('Grüße 😀');
    expect(concatInfoOf(m.udh)).toEqual({ reference: 9, total: 2, seq: 1 });
  });

  it('reassembles parts in any order, once all arrived', () => {
    const a = new ConcatAssembler();
    expect(a.add('k', { reference: 1, total: 3, seq: 3 }, 'c', 0)).toBeUndefined();
    expect(a.add('k', { reference: 1, total: 3, seq: 1 }, 'a', 1)).toBeUndefined();
    expect(a.add('other', { reference: 1, total: 2, seq: 1 }, 'x', 1)).toBeUndefined();
    expect(a.add('k', { reference: 1, total: 3, seq: 2 }, 'b', 2)).toBe('abc');
    expect(a.size).toBe(1);
    // Incomplete sets expire.
    a.add('k2', { reference: 2, total: 2, seq: 1 }, 'z', 10 * 60_000 + 10);
    expect(a.size).toBe(1);
  });
});

describe('statuses and addresses', () => {
  it('names statuses and tells retryable refusals from permanent ones', () => {
    expect(statusName(0x58)).toBe('ESME_RTHROTTLED');
    expect(statusName(0x0b)).toBe('ESME_RINVDSTADR');
    expect(statusName(0x4242)).toBe('ESME_0x00004242');
    expect(classifyStatus(0)).toBe('ok');
    expect(classifyStatus(0x58)).toBe('retry');
    expect(classifyStatus(0x14)).toBe('retry');
    expect(classifyStatus(0x0b)).toBe('failed');
  });

  it('maps E.164 numbers to international TON and short codes to network specific', () => {
    expect(toSmppAddress('+14155550100')).toEqual({ addr: '14155550100', ton: 1, npi: 1 });
    expect(toSmppAddress('72725')).toEqual({ addr: '72725', ton: 3, npi: 0 });
    expect(fromSmppAddress('14155550100', 1)).toBe('+14155550100');
    expect(fromSmppAddress('14155550100', 0)).toBe('+14155550100');
    expect(fromSmppAddress('72725', 3)).toBe('72725');
    expect(fromSmppAddress('72725', 0)).toBe('72725');
  });
});
