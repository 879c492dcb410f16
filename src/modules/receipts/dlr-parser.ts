// Delivery receipts as carriers really send them, turned into one of our statuses. SMSCs disagree
// on almost everything in the SMPP 3.4 Appendix B text (field order, key case, `text:` present or
// not, 10/12/14-digit dates, missing sub/dlvrd), and HTTP providers send their own status words;
// this module absorbs all of it so the consumer only sees ParsedReceipt. Which form a receipt's id
// is in is the connector's setting, not the parser's guess (receipt-id.ts).
// Pure: no framework imports.
import type { MessageStatus } from '../messages/message.types';

/** Our status for a receipt, or `unknown` when the carrier said something we cannot map. */
export type ReceiptStatus = MessageStatus | 'unknown';

export interface ReceiptTlv {
  /** SMPP receipted_message_id (0x001E); wins over the id in the text. */
  receiptedMessageId?: string;
  /** SMPP message_state (0x0427, 1..8) or a provider's status word; wins over `stat:`. */
  messageState?: number | string;
}

export interface ParsedReceipt {
  /** The carrier's message id as the receipt gave it (TLV first, then `id:`). */
  id: string | undefined;
  /** The receipted_message_id TLV (or the provider's message id), when present. */
  tlvId: string | undefined;
  /** The `id:` of the receipt text, when present. */
  textId: string | undefined;
  status: ReceiptStatus;
  /** The carrier's own word or number for the state, upper-cased (`DELIVRD`, `2`, `UNDELIVERED`). */
  stat: string | undefined;
  /** True when the carrier will send nothing more about this message. */
  final: boolean;
  /** Error code as sent (`000`, `0B1`, `30003`); undefined when the receipt carries none. */
  errorCode: string | undefined;
  /** True when errorCode names an error (not absent, not all zeros). */
  isError: boolean;
  sub?: number;
  dlvrd?: number;
  submittedAt?: Date;
  doneAt?: Date;
  text?: string;
  /** The receipt exactly as received; kept with unknown receipts so nothing is dropped. */
  raw: string;
}

// SMPP 3.4 §5.2.28 message_state values, and the 7-character `stat:` words of Appendix B.
const STATE_BY_NUMBER: Record<number, string> = {
  1: 'ENROUTE',
  2: 'DELIVRD',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIV',
  6: 'ACCEPTD',
  7: 'UNKNOWN',
  8: 'REJECTD',
};

interface Mapping {
  status: ReceiptStatus;
  final: boolean;
}

const SMPP_WORDS: Record<string, Mapping> = {
  // ENROUTE and ACCEPTD are intermediate: the SMSC still holds the message (ACCEPTD is "read on the
  // subscriber's behalf", which Kannel and Jasmin both treat as not yet delivered).
  ENROUTE: { status: 'sent', final: false },
  ACCEPTD: { status: 'sent', final: false },
  DELIVRD: { status: 'delivered', final: true },
  EXPIRED: { status: 'expired', final: true },
  // Deleted at the SMSC (operator or cancel_sm) before it reached the handset.
  DELETED: { status: 'undelivered', final: true },
  UNDELIV: { status: 'undelivered', final: true },
  REJECTD: { status: 'rejected', final: true },
  UNKNOWN: { status: 'unknown', final: false },
};

// Some SMSCs spell the states out; they are the same states, not new ones.
const SMPP_ALIASES: Record<string, string> = {
  DELIVERED: 'DELIVRD',
  UNDELIVERABLE: 'UNDELIV',
  UNDELIVERED: 'UNDELIV',
  ACCEPTED: 'ACCEPTD',
  REJECTED: 'REJECTD',
  EN_ROUTE: 'ENROUTE',
};

// Twilio-style provider statuses (MessageStatus of a status callback).
const PROVIDER_WORDS: Record<string, Mapping> = {
  accepted: { status: 'submitted', final: false },
  scheduled: { status: 'submitted', final: false },
  queued: { status: 'submitted', final: false },
  sending: { status: 'sent', final: false },
  sent: { status: 'sent', final: false },
  delivered: { status: 'delivered', final: true },
  read: { status: 'delivered', final: true },
  undelivered: { status: 'undelivered', final: true },
  failed: { status: 'failed', final: true },
  canceled: { status: 'canceled', final: true },
};

type Key = 'id' | 'sub' | 'dlvrd' | 'submit date' | 'done date' | 'stat' | 'err' | 'text';

// A key starts the string or follows whitespace; `submit_date`, `Submit Date` and `SUBMIT DATE`
// are all seen in the field, as is a space before the colon.
const KEY_RE = /(^|\s)(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:/gi;

/** Splits an Appendix B receipt text into its fields, whatever their order and case. */
export function receiptFields(raw: string): Partial<Record<Key, string>> {
  const marks: { key: Key; start: number; valueStart: number }[] = [];
  const seen = new Set<Key>();
  for (const m of raw.matchAll(KEY_RE)) {
    const key = m[2].toLowerCase().replace('_', ' ') as Key;
    // A key seen before is part of the message text (`text:id:2 …`), not a new field.
    if (seen.has(key)) continue;
    seen.add(key);
    marks.push({ key, start: m.index! + m[1].length, valueStart: m.index! + m[0].length });
  }
  const out: Partial<Record<Key, string>> = {};
  marks.forEach((mark, i) => {
    const end = i + 1 < marks.length ? marks[i + 1].start : raw.length;
    const value = raw.slice(mark.valueStart, end);
    // The text is the first 20 characters of the message: keep its inner spaces. Other values are
    // one token; SMSCs append their own fields after err: (`IMSI: MSC: ORN:VipNet MCCMNC:`).
    out[mark.key] =
      mark.key === 'text'
        ? value.replace(/^\s/, '').replace(/\s+$/, '')
        : (value.trim().split(/\s+/)[0] ?? '');
  });
  return out;
}

/**
 * Reads SMSC dates: YYMMDDhhmm (the 3.4 spec), YYMMDDhhmmss and YYYYMMDDhhmmss (both common).
 * SMSCs do not say their time zone; UTC is the only assumption that holds across them.
 */
export function parseReceiptDate(value: string | undefined): Date | undefined {
  if (!value) return undefined;
  const d = value.replace(/\D/g, '');
  let y: number, rest: string;
  if (d.length === 14) {
    y = Number(d.slice(0, 4));
    rest = d.slice(4);
  } else if (d.length === 10 || d.length === 12) {
    y = 2000 + Number(d.slice(0, 2));
    rest = d.slice(2);
  } else return undefined;
  const mo = Number(rest.slice(0, 2));
  const day = Number(rest.slice(2, 4));
  const h = Number(rest.slice(4, 6));
  const mi = Number(rest.slice(6, 8));
  const s = rest.length >= 10 ? Number(rest.slice(8, 10)) : 0;
  if (mo < 1 || mo > 12 || day < 1 || day > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const date = new Date(Date.UTC(y, mo - 1, day, h, mi, s));
  // Reject 31 February and friends rather than rolling over into March.
  return date.getUTCDate() === day ? date : undefined;
}

function mapState(state: number | string | undefined): (Mapping & { stat: string }) | undefined {
  if (state === undefined || state === null || state === '') return undefined;
  if (typeof state === 'number' || /^\d+$/.test(String(state).trim())) {
    const n = Number(state);
    const word = STATE_BY_NUMBER[n];
    return word
      ? { ...SMPP_WORDS[word], stat: String(n) }
      : { status: 'unknown', final: false, stat: String(n) };
  }
  const s = String(state).trim();
  const provider = PROVIDER_WORDS[s.toLowerCase()];
  // Provider words are lower case by convention (Twilio); upper-case words are SMPP states.
  if (provider && s === s.toLowerCase()) return { ...provider, stat: s.toUpperCase() };
  const upper = s.toUpperCase();
  const word = SMPP_ALIASES[upper] ?? upper;
  const smpp = SMPP_WORDS[word];
  if (smpp) return { ...smpp, stat: upper };
  return { status: 'unknown', final: false, stat: upper };
}

function intOrUndefined(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function errorOf(code: string | undefined): { errorCode: string | undefined; isError: boolean } {
  const c = code?.trim();
  if (!c) return { errorCode: undefined, isError: false };
  return { errorCode: c, isError: !/^(0x)?0+$/i.test(c) };
}

/** Twilio-style status callback bodies travel as form parameters (`MessageSid=…&MessageStatus=…`). */
function parseProviderParams(raw: string): URLSearchParams | undefined {
  if (!/(^|&)(MessageSid|SmsSid|MessageStatus|SmsStatus)=/.test(raw)) return undefined;
  return new URLSearchParams(raw);
}

/**
 * Parses a delivery receipt. `tlv` carries what the PDU had outside the text (SMPP TLVs) or the
 * provider's status word; those win over the text. Unmappable states come back as `unknown` with
 * the raw receipt, never as an exception.
 */
export function parseReceipt(raw: string, tlv: ReceiptTlv = {}): ParsedReceipt {
  const text = raw ?? '';
  const params = parseProviderParams(text);
  if (params) {
    const id = tlv.receiptedMessageId || params.get('MessageSid') || params.get('SmsSid') || undefined;
    const state = mapState(tlv.messageState ?? params.get('MessageStatus') ?? params.get('SmsStatus') ?? '');
    const { errorCode, isError } = errorOf(params.get('ErrorCode') ?? undefined);
    return {
      id,
      tlvId: id,
      textId: undefined,
      status: state?.status ?? 'unknown',
      stat: state?.stat,
      final: state?.final ?? false,
      errorCode,
      isError,
      raw: text,
    };
  }

  // C-string SMSCs leave the terminating NUL (and padding) in short_message / message_payload.
  const f = receiptFields(text.replace(/\0+/g, ' '));
  const id = tlv.receiptedMessageId?.trim() || f.id || undefined;
  // A bare provider word ("delivered") with no Appendix B fields is a status on its own.
  const bare = Object.keys(f).length === 0 && /^[A-Za-z_]+$/.test(text.trim()) ? text.trim() : undefined;
  const state = mapState(tlv.messageState ?? f.stat ?? bare);
  const { errorCode, isError } = errorOf(f.err);
  return {
    id,
    tlvId: tlv.receiptedMessageId?.trim() || undefined,
    textId: f.id || undefined,
    status: state?.status ?? 'unknown',
    stat: state?.stat,
    final: state?.final ?? false,
    errorCode,
    isError,
    sub: intOrUndefined(f.sub),
    dlvrd: intOrUndefined(f.dlvrd),
    submittedAt: parseReceiptDate(f['submit date']),
    doneAt: parseReceiptDate(f['done date']),
    text: f.text,
    raw: text,
  };
}
