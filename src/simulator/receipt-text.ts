// The delivery receipt an SMSC sends back, in the de-facto format of SMPP 3.4 Appendix B:
// `id:… sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:…`
// plus the message_state values that travel in the TLV of the same name.
import { utcMinuteDigits } from '../modules/carriers/smpp/smpp-wire';

export type ReceiptOutcome = 'delivered' | 'undelivered' | 'expired' | 'rejected';

/** Per outcome: the receipt's stat word, the message_state TLV value and a network error code. */
export const RECEIPT_STATES: Record<ReceiptOutcome, { stat: string; messageState: number; err: string }> = {
  delivered: { stat: 'DELIVRD', messageState: 2, err: '000' },
  expired: { stat: 'EXPIRED', messageState: 3, err: '000' },
  undelivered: { stat: 'UNDELIV', messageState: 5, err: '001' },
  rejected: { stat: 'REJECTD', messageState: 8, err: '002' },
};

/** YYMMDDhhmm in UTC, the receipt's date format. */
export const receiptDate = utcMinuteDigits;

export function receiptText(r: {
  id: string;
  outcome: ReceiptOutcome;
  submittedAt: Date;
  doneAt: Date;
  /** The first characters of the original message (20 at most, as SMSCs do). */
  text?: string;
}): string {
  const s = RECEIPT_STATES[r.outcome];
  const dlvrd = r.outcome === 'delivered' ? '001' : '000';
  const text = (r.text ?? '').slice(0, 20);
  return (
    `id:${r.id} sub:001 dlvrd:${dlvrd} submit date:${receiptDate(r.submittedAt)} ` +
    `done date:${receiptDate(r.doneAt)} stat:${s.stat} err:${s.err} text:${text}`
  );
}
