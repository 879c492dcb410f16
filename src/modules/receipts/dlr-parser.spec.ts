// Receipt strings below are taken from SMSC logs, gateway docs and test suites in the field
// (Kannel, Jasmin, Cloudhopper-based SMSCs, Twilio status callbacks); quirks kept verbatim.
import { describe, expect, it } from 'vitest';
import { receiptKeyOf, storedReceiptKey } from '../carriers/receipt-id';
import { parseReceipt, parseReceiptDate, receiptFields } from './dlr-parser';

describe('parseReceipt: Appendix B text', () => {
  it('reads the canonical Kannel / Appendix B receipt with Text: capitalised', () => {
    const r = parseReceipt(
      'id:1234567890 sub:001 dlvrd:001 submit date:1608011415 done date:1608011417 stat:DELIVRD err:000 Text:Hello Adobe world',
    );
    expect(r).toMatchObject({
      id: '1234567890',
      status: 'delivered',
      stat: 'DELIVRD',
      final: true,
      errorCode: '000',
      isError: false,
      sub: 1,
      dlvrd: 1,
      text: 'Hello Adobe world',
    });
    expect(r.submittedAt?.toISOString()).toBe('2016-08-01T14:15:00.000Z');
    expect(r.doneAt?.toISOString()).toBe('2016-08-01T14:17:00.000Z');
  });

  it('Jasmin: no sub/dlvrd, trailing NUL, zero-padded decimal id, hex receipted_message_id TLV wins', () => {
    const r = parseReceipt(
      'id:0000436949 submit date:1504211508 done date:1504211508 stat:DELIVRD err:000\x00',
      {
        receiptedMessageId: '6aad5',
      },
    );
    expect(r.id).toBe('6aad5');
    expect(r.status).toBe('delivered');
    expect(r.errorCode).toBe('000');
    expect(r.sub).toBeUndefined();
    expect(r.dlvrd).toBeUndefined();
    // The TLV in the submit answer's form (hex), the text's id in decimal: one id, read per the
    // connector's declared form (resp_hex_receipt_dec), matching what the submit answer stored.
    expect(r).toMatchObject({ tlvId: '6aad5', textId: '0000436949' });
    expect(receiptKeyOf('resp_hex_receipt_dec', r)).toBe(storedReceiptKey('resp_hex_receipt_dec', '6aad5'));
    // Declared as is, the TLV decides and the decimal text is not read as hex.
    expect(receiptKeyOf('as_is', r)).toBe(storedReceiptKey('as_is', '6aad5'));
  });

  it('keeps only the token after err: when the SMSC appends its own fields (VipNet)', () => {
    const r = parseReceipt(
      'id:40072910491419819 sub:001 dlvrd:001 submit date:1007291049 done date:1007291049 stat:UNDELIV err:001 IMSI: MSC: ORN:VipNet MCCMNC:',
    );
    expect(r).toMatchObject({
      id: '40072910491419819',
      status: 'undelivered',
      final: true,
      errorCode: '001',
      isError: true,
    });
    expect(r.text).toBeUndefined();
  });

  it('reads 12-digit dates and a hex id (D6AE74D1) that the submit_sm_resp may have sent in decimal', () => {
    const r = parseReceipt(
      'id:D6AE74D1 sub:001 dlvrd:001 submit date:250609123704 done date:250609123707 stat:DELIVRD err:0 Text:report',
    );
    expect(r.submittedAt?.toISOString()).toBe('2025-06-09T12:37:04.000Z');
    expect(r.doneAt?.toISOString()).toBe('2025-06-09T12:37:07.000Z');
    expect(r.textId).toBe('D6AE74D1');
    expect(receiptKeyOf('as_is', r)).toBe(storedReceiptKey('as_is', 'd6ae74d1'));
    expect(receiptKeyOf('resp_dec_receipt_hex', r)).toBe(
      storedReceiptKey('resp_dec_receipt_hex', String(0xd6ae74d1)),
    );
    expect(r.errorCode).toBe('0');
    expect(r.isError).toBe(false);
  });

  it('mixes a 10-digit submit date with a 12-digit done date, UUID id', () => {
    const r = parseReceipt(
      'id:5516a151-4970-45b6-b73e-95aefdb11cbf sub:001 dlvrd:001 submit date:2302231414 done date:230223194211 stat:DELIVRD err:000 text:Hello',
    );
    expect(r.id).toBe('5516a151-4970-45b6-b73e-95aefdb11cbf');
    expect(r.textId).toBe('5516a151-4970-45b6-b73e-95aefdb11cbf');
    expect(receiptKeyOf('as_is', r)).toBe('5516a151-4970-45b6-b73e-95aefdb11cbf');
    expect(r.submittedAt?.toISOString()).toBe('2023-02-23T14:14:00.000Z');
    expect(r.doneAt?.toISOString()).toBe('2023-02-23T19:42:11.000Z');
  });

  it('reads 14-digit dates (YYYYMMDDhhmmss)', () => {
    const r = parseReceipt(
      'id:5077244932 submit date:20260719103544 done date:20260719104012 stat:UNDELIV err:034 text:Assalomu alayku',
    );
    expect(r.submittedAt?.toISOString()).toBe('2026-07-19T10:35:44.000Z');
    expect(r.doneAt?.toISOString()).toBe('2026-07-19T10:40:12.000Z');
    expect(r.status).toBe('undelivered');
    expect(r.errorCode).toBe('034');
    expect(r.text).toBe('Assalomu alayku');
  });

  it('takes fields separated by newlines, and a colon inside the text', () => {
    const r = parseReceipt(
      'id:12469 sub:001 dlvrd:001\nsubmit date:2605090348 done date:2605090348\nstat:DELIVRD err:0\ntext:American Express: AI',
    );
    expect(r).toMatchObject({ id: '12469', status: 'delivered', text: 'American Express: AI', sub: 1 });
    expect(r.doneAt?.toISOString()).toBe('2026-05-09T03:48:00.000Z');
  });

  it('ignores key case (Dlvrd:1) and reads unpadded counts', () => {
    const r = parseReceipt(
      'id:1235 sub:001 Dlvrd:1 submit date:2107081716 done date:2210131801 stat:DELIVRD err:0 text:aha',
    );
    expect(r).toMatchObject({ sub: 1, dlvrd: 1, status: 'delivered', text: 'aha' });
  });

  it('reads an SMSC that upper-cases every key', () => {
    const r = parseReceipt(
      'ID:0966279342 SUB:001 DLVRD:000 SUBMIT DATE:1303060704 DONE DATE:1303060705 STAT:EXPIRED ERR:00B TEXT:INSO ALERT, 1000, Da',
    );
    expect(r).toMatchObject({
      id: '0966279342',
      status: 'expired',
      final: true,
      errorCode: '00B',
      isError: true,
      dlvrd: 0,
      text: 'INSO ALERT, 1000, Da',
    });
  });

  it('reads fields in any order', () => {
    const r = parseReceipt(
      'stat:REJECTD err:0x0000000B done date:2401010001 id:7F3A9B submit date:2401010000 dlvrd:000 sub:001',
    );
    expect(r).toMatchObject({ id: '7F3A9B', status: 'rejected', errorCode: '0x0000000B', isError: true });
    expect(receiptKeyOf('as_is', r)).toBe(storedReceiptKey('as_is', '7f3a9b'));
    expect(r.doneAt?.toISOString()).toBe('2024-01-01T00:01:00.000Z');
  });

  it('keeps the text padding of Telestax-style receipts inside, trims it at the end', () => {
    const r = parseReceipt(
      'id:0000058049 sub:001 dlvrd:001 submit date:1805170144 done date:1805170144 stat:DELIVRD err:000 text:none                ',
    );
    expect(r.text).toBe('none');
    expect(receiptKeyOf('as_is', r)).toBe(storedReceiptKey('as_is', '58049'));
    expect(receiptKeyOf('resp_hex_receipt_dec', r)).toBe(
      storedReceiptKey('resp_hex_receipt_dec', (58049).toString(16)),
    );
  });

  it('reads a 32-character hex id and a one-digit err', () => {
    const r = parseReceipt(
      'id:bd778cd76ae9e79da2ddc8188c68f8c1 sub:001 dlvrd:0 submit date:0610191533 done date:0610191539 stat:UNDELIV err:1 text:This is an Acti',
    );
    expect(r).toMatchObject({ id: 'bd778cd76ae9e79da2ddc8188c68f8c1', errorCode: '1', isError: true });
    expect(r.submittedAt?.toISOString()).toBe('2006-10-19T15:33:00.000Z');
  });

  it('keeps an empty id as missing, with the status still read', () => {
    const r = parseReceipt(
      'id: sub:001 dlvrd:000 submit date:2401010000 done date:2401010001 stat:UNDELIV err:001 text:failed',
    );
    expect(r.id).toBeUndefined();
    expect(receiptKeyOf('as_is', r)).toBeUndefined();
    expect(r.status).toBe('undelivered');
  });

  it('matches a zero-padded 64-bit hex id to its short form', () => {
    const r = parseReceipt(
      'id:000000000000abcd sub:001 dlvrd:001 submit date:2609090000 done date:2609090001 stat:DELIVRD err:000 text:xxxxx',
    );
    expect(receiptKeyOf('as_is', r)).toBe(storedReceiptKey('as_is', 'ABCD'));
    // Never also the decimal 43981: that is another message's id on a decimal SMSC.
    expect(receiptKeyOf('as_is', r)).not.toBe(storedReceiptKey('as_is', '43981'));
  });
});

describe('parseReceipt: states', () => {
  it.each([
    ['DELIVRD', 'delivered', true],
    ['EXPIRED', 'expired', true],
    ['DELETED', 'undelivered', true],
    ['UNDELIV', 'undelivered', true],
    ['ACCEPTD', 'sent', false],
    ['UNKNOWN', 'unknown', false],
    ['REJECTD', 'rejected', true],
    ['ENROUTE', 'sent', false],
    ['DELIVERED', 'delivered', true],
    ['UNDELIVERABLE', 'undelivered', true],
  ])('stat:%s → %s', (stat, status, final) => {
    const r = parseReceipt(
      `id:1751354780682325918 sub:001 dlvrd:001 submit date:2507251650 done date:2507251820 stat:${stat} err:000 text:123`,
    );
    expect(r.status).toBe(status);
    expect(r.final).toBe(final);
  });

  it.each([
    [1, 'sent'],
    [2, 'delivered'],
    [3, 'expired'],
    [4, 'undelivered'],
    [5, 'undelivered'],
    [6, 'sent'],
    [7, 'unknown'],
    [8, 'rejected'],
  ])('message_state TLV %i → %s, winning over the text', (state, status) => {
    const r = parseReceipt(
      'id:abc123 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:ENROUTE err:000 Text:Test',
      { messageState: state },
    );
    expect(r.status).toBe(status);
    expect(r.stat).toBe(String(state));
  });

  it('accepts message_state as a numeric string', () => {
    expect(parseReceipt('', { messageState: '2', receiptedMessageId: 'msg-1' })).toMatchObject({
      status: 'delivered',
      id: 'msg-1',
    });
  });

  it('keeps a state it cannot map as unknown, with the raw receipt', () => {
    const raw =
      'id:smsc-17 sub:001 dlvrd:000 submit date:2609121230 done date:2609121231 stat:FAILED err:069 text:';
    const r = parseReceipt(raw);
    expect(r).toMatchObject({ status: 'unknown', stat: 'FAILED', id: 'smsc-17', raw, final: false });
    expect(parseReceipt('', { messageState: 9 }).status).toBe('unknown');
  });

  it('never throws on garbage', () => {
    const r = parseReceipt('nothing readable at all');
    expect(r).toMatchObject({ status: 'unknown', id: undefined, raw: 'nothing readable at all' });
    expect(parseReceipt('').status).toBe('unknown');
    expect(parseReceipt('id:STRANGER stat:UNDELIV err:058')).toMatchObject({
      id: 'STRANGER',
      status: 'undelivered',
      errorCode: '058',
    });
  });
});

describe('parseReceipt: Twilio-style providers', () => {
  it('reads a status callback body, with its error code', () => {
    const raw =
      'AccountSid=AC00000000000000000000000000000000&ErrorCode=30003&From=%2B18885550199&MessageSid=SM5f1c2a8e4b7d4e0f9a3c6b2d1e0f9a8b&MessageStatus=undelivered&To=%2B14155550123';
    const r = parseReceipt(raw, { messageState: 'undelivered' });
    expect(r).toMatchObject({
      id: 'SM5f1c2a8e4b7d4e0f9a3c6b2d1e0f9a8b',
      status: 'undelivered',
      final: true,
      errorCode: '30003',
      isError: true,
    });
  });

  it.each([
    ['queued', 'submitted', false],
    ['sending', 'sent', false],
    ['sent', 'sent', false],
    ['delivered', 'delivered', true],
    ['read', 'delivered', true],
    ['undelivered', 'undelivered', true],
    ['failed', 'failed', true],
    ['canceled', 'canceled', true],
  ])('MessageStatus=%s → %s', (word, status, final) => {
    const r = parseReceipt(`MessageSid=SM123&MessageStatus=${word}`);
    expect(r.status).toBe(status);
    expect(r.final).toBe(final);
  });

  it('reads a bare provider status word', () => {
    expect(parseReceipt('delivered').status).toBe('delivered');
  });
});

describe('helpers', () => {
  it('rejects impossible dates rather than rolling them over', () => {
    expect(parseReceiptDate('2602301200')).toBeUndefined();
    expect(parseReceiptDate('26010112')).toBeUndefined();
    expect(parseReceiptDate('2601011260')).toBeUndefined();
  });

  it('splits fields without taking a key inside the text as a field', () => {
    expect(receiptFields('id:1 stat:DELIVRD text:id:2 stat:x')).toEqual({
      id: '1',
      stat: 'DELIVRD',
      text: 'id:2 stat:x',
    });
  });
});
