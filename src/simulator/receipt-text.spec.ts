import { describe, expect, it } from 'vitest';
import { RECEIPT_STATES, receiptDate, receiptText } from './receipt-text';

describe('receiptText', () => {
  const submittedAt = new Date(Date.UTC(2026, 0, 5, 9, 7, 59));
  const doneAt = new Date(Date.UTC(2026, 0, 5, 9, 8, 3));

  it('writes the standard SMPP receipt text', () => {
    expect(
      receiptText({
        id: '0a1b2c',
        outcome: 'delivered',
        submittedAt,
        doneAt,
        text: 'Your order is on its way today',
      }),
    ).toBe(
      'id:0a1b2c sub:001 dlvrd:001 submit date:2601050907 done date:2601050908 stat:DELIVRD err:000 text:Your order is on its',
    );
  });

  it('says what did not arrive', () => {
    expect(receiptText({ id: '7', outcome: 'undelivered', submittedAt, doneAt })).toMatch(
      / dlvrd:000 .* stat:UNDELIV err:001 text:$/,
    );
    expect(receiptText({ id: '7', outcome: 'expired', submittedAt, doneAt })).toContain('stat:EXPIRED');
    expect(receiptText({ id: '7', outcome: 'rejected', submittedAt, doneAt })).toContain('stat:REJECTD');
  });

  it('uses SMPP message_state values', () => {
    expect(RECEIPT_STATES.delivered.messageState).toBe(2);
    expect(RECEIPT_STATES.expired.messageState).toBe(3);
    expect(RECEIPT_STATES.undelivered.messageState).toBe(5);
    expect(RECEIPT_STATES.rejected.messageState).toBe(8);
  });

  it('formats dates as YYMMDDhhmm in UTC', () => {
    expect(receiptDate(new Date(Date.UTC(2031, 11, 31, 23, 59)))).toBe('3112312359');
  });
});
