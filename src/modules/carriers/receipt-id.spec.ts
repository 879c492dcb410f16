import { describe, expect, it } from 'vitest';
import { receiptKeyOf, receiptLookupKey, storedReceiptKey } from './receipt-id';

describe('receipt ids per connector format', () => {
  it('as_is: the same id, zero padding and letter case normalised, nothing else', () => {
    expect(storedReceiptKey('as_is', '0000ABC12')).toBe(receiptLookupKey('as_is', 'abc12'));
    expect(storedReceiptKey('as_is', '1060')).toBe(receiptLookupKey('as_is', '001060'));
    // 0x424 is 1060: never the same id when the connector says ids are as they are.
    expect(storedReceiptKey('as_is', '424')).not.toBe(receiptLookupKey('as_is', '1060'));
    expect(storedReceiptKey('as_is', '0')).toBe('0');
    expect(storedReceiptKey('as_is', 'SM1f2e')).toBe('sm1f2e');
  });

  it('resp_hex_receipt_dec: a hex submit answer matches its decimal receipt only', () => {
    expect(storedReceiptKey('resp_hex_receipt_dec', '00000424')).toBe(
      receiptLookupKey('resp_hex_receipt_dec', '1060'),
    );
    expect(storedReceiptKey('resp_hex_receipt_dec', 'D6AE74D1')).toBe(
      receiptLookupKey('resp_hex_receipt_dec', String(0xd6ae74d1)),
    );
    // The receipt in hex is not the declared form: no key, no match.
    expect(receiptLookupKey('resp_hex_receipt_dec', '424a')).toBeUndefined();
    expect(storedReceiptKey('resp_hex_receipt_dec', '424')).not.toBe(
      receiptLookupKey('resp_hex_receipt_dec', '424'),
    );
  });

  it('resp_dec_receipt_hex: a decimal submit answer matches its hex receipt only', () => {
    expect(storedReceiptKey('resp_dec_receipt_hex', '0000001060')).toBe(
      receiptLookupKey('resp_dec_receipt_hex', '424'),
    );
    expect(storedReceiptKey('resp_dec_receipt_hex', '1060')).not.toBe(
      receiptLookupKey('resp_dec_receipt_hex', '1060'),
    );
  });

  it('an answer that does not read in the declared form matches no receipt', () => {
    const stored = storedReceiptKey('resp_hex_receipt_dec', 'not-hex');
    expect(stored.startsWith('!')).toBe(true);
    expect(receiptLookupKey('resp_hex_receipt_dec', 'not-hex')).toBeUndefined();
    expect(storedReceiptKey('resp_dec_receipt_hex', 'x1')).not.toBe(
      receiptLookupKey('resp_dec_receipt_hex', '1'),
    );
  });

  it('bounds the numbers it reads', () => {
    const long = '9'.repeat(100);
    expect(receiptLookupKey('resp_hex_receipt_dec', long)).toBeUndefined();
    expect(storedReceiptKey('resp_dec_receipt_hex', long)).toBe(`!${long}`);
  });

  it('reads a TLV in the submit answer form, unless the text shows it is in the receipt form', () => {
    // Spec SMSC: TLV = submit answer (hex), text = decimal.
    expect(receiptKeyOf('resp_hex_receipt_dec', { tlvId: '1a', textId: '26' })).toBe('26');
    expect(receiptKeyOf('resp_hex_receipt_dec', { tlvId: '10', textId: '16' })).toBe('16');
    // The TLV written in the text's form.
    expect(receiptKeyOf('resp_hex_receipt_dec', { tlvId: '16', textId: '16' })).toBe('16');
    // TLV alone: the submit answer's form.
    expect(receiptKeyOf('resp_hex_receipt_dec', { tlvId: '10' })).toBe('16');
    // Text alone: the receipt form.
    expect(receiptKeyOf('resp_hex_receipt_dec', { textId: '16' })).toBe('16');
    // as_is with a text in another base than the TLV: the TLV decides.
    expect(receiptKeyOf('as_is', { tlvId: 'abc', textId: '2748' })).toBe('abc');
    expect(receiptKeyOf('as_is', {})).toBeUndefined();
  });
});
