// SMPP 3.4 details that are plain data work: command status names and what they mean for a send,
// short_message text coding (GSM 03.38 unpacked septets or UCS-2 big-endian), concatenation UDH,
// reassembly of concatenated parts, and E.164 <-> SMPP address conversion. No framework, no sockets.
import type { DecodedMessage } from 'smpp';
import type { Encoding } from '../connector';
import { gsm7Decode, gsm7Encode } from './gsm7-codec';
import { smpp } from './smpp-lib';

export const ESME_ROK = 0x00;
export const ESME_RMSGQFUL = 0x14;
export const ESME_RTHROTTLED = 0x58;
export const ESME_RX_T_APPN = 0x64;

export const DATA_CODING = { 'GSM-7': 0x00, 'UCS-2': 0x08 } as const;
export const ESM_CLASS_UDHI = 0x40;
/** esm_class bits 2-5 carry the message type; 0x04 is an SMSC delivery receipt. */
export const ESM_CLASS_TYPE_MASK = 0x3c;
export const ESM_CLASS_DELIVERY_RECEIPT = 0x04;

export const TON = { UNKNOWN: 0, INTERNATIONAL: 1, NATIONAL: 2, NETWORK_SPECIFIC: 3 } as const;
export const NPI = { UNKNOWN: 0, ISDN: 1 } as const;

const statusNames = new Map<number, string>(
  Object.entries(smpp.errors).map(([name, code]) => [code, name] as [number, string]),
);

/** `ESME_RTHROTTLED` for 0x58; unknown codes as `ESME_0x…` so they still read as SMPP statuses. */
export function statusName(code: number): string {
  return statusNames.get(code) ?? `ESME_0x${code.toString(16).padStart(8, '0')}`;
}

export function statusCode(name: string): number | undefined {
  return smpp.errors[name];
}

/**
 * What a submit response status means: accepted, a definite refusal worth retrying later (the
 * SMSC's queue or throttle, or a temporary application error), or a permanent failure.
 */
export function classifyStatus(code: number): 'ok' | 'retry' | 'failed' {
  if (code === ESME_ROK) return 'ok';
  if (code === ESME_RTHROTTLED || code === ESME_RMSGQFUL || code === ESME_RX_T_APPN) return 'retry';
  return 'failed';
}

/** Statuses after which the whole bind pauses: the SMSC told us to slow down, not this message. */
export const isBackoffStatus = (code: number) => code === ESME_RTHROTTLED || code === ESME_RMSGQFUL;

/**
 * Text to short_message octets. GSM-7 travels unpacked (one septet per octet, as SMPP 3.4's SMSC
 * default alphabet expects), extension characters as ESC + code.
 */
export function encodeText(text: string, encoding: Encoding): Buffer {
  if (encoding === 'UCS-2') return Buffer.from(text, 'utf16le').swap16();
  return gsm7Encode(text);
}

/** short_message octets to text by data_coding (0 GSM-7, 1 IA5/ASCII, 3 Latin-1, 8 UCS-2). */
export function decodeText(octets: Buffer, dataCoding: number): string {
  switch (dataCoding & 0x0f) {
    case 0x08: {
      const b = Buffer.from(octets.subarray(0, octets.length - (octets.length % 2)));
      return b.swap16().toString('utf16le');
    }
    case 0x01:
      return octets.toString('ascii');
    case 0x03:
      return octets.toString('latin1');
    case 0x04:
      return octets.toString('hex');
    default:
      return gsm7Decode(octets);
  }
}

/** The 6-octet concatenation UDH (IEI 0x00, 8-bit reference) put before each part's text. */
export function concatUdh(reference: number, total: number, seq: number): Buffer {
  return Buffer.from([0x05, 0x00, 0x03, reference & 0xff, total, seq]);
}

export interface ConcatInfo {
  reference: number;
  total: number;
  seq: number;
}

/** Reads the concatenation element (8-bit IEI 0x00 or 16-bit IEI 0x08) from UDH elements. */
export function concatInfoOf(udh: Buffer[] | undefined): ConcatInfo | undefined {
  for (const ie of udh ?? []) {
    if (ie[0] === 0x00 && ie.length >= 5) return { reference: ie[2], total: ie[3], seq: ie[4] };
    if (ie[0] === 0x08 && ie.length >= 6) return { reference: ie.readUInt16BE(2), total: ie[4], seq: ie[5] };
  }
  return undefined;
}

/** Splits raw short_message octets (UDHI set) into UDH elements and the text octets. */
export function splitUdh(octets: Buffer): { udh: Buffer[]; body: Buffer } {
  const udhl = octets[0];
  const udh: Buffer[] = [];
  let i = 1;
  while (i + 1 < udhl + 1) {
    const len = octets[i + 1];
    udh.push(octets.subarray(i, i + 2 + len));
    i += 2 + len;
  }
  return { udh, body: octets.subarray(udhl + 1) };
}

/**
 * The text of a received PDU. The smpp package decodes short_message (and message_payload) by
 * data_coding when parsing; UCS-2 and GSM-7 come out right, anything left as octets is decoded here.
 */
export function messageOf(incoming: object): { text: string; udh?: Buffer[] } {
  // A library PDU or our own decoded one: both name their fields as the SMPP spec does.
  const pdu = incoming as {
    message_payload?: unknown;
    short_message?: unknown;
    esm_class?: number;
    data_coding?: number;
  };
  const raw = (
    pdu.message_payload !== undefined && pdu.message_payload !== null
      ? pdu.message_payload
      : pdu.short_message
  ) as DecodedMessage | Buffer | string | undefined | null;
  if (raw === undefined || raw === null) return { text: '' };
  if (typeof raw === 'string') return { text: raw };
  if (Buffer.isBuffer(raw)) {
    if ((pdu.esm_class ?? 0) & ESM_CLASS_UDHI) {
      const { udh, body } = splitUdh(raw);
      return { text: decodeText(body, pdu.data_coding ?? 0), udh };
    }
    return { text: decodeText(raw, pdu.data_coding ?? 0) };
  }
  const text = Buffer.isBuffer(raw.message) ? decodeText(raw.message, pdu.data_coding ?? 0) : raw.message;
  return { text, udh: raw.udh };
}

/**
 * Collects concatenated parts until all arrived, then gives the whole text. Parts of one message
 * share (sender, recipient, reference); incomplete sets are dropped after `maxAgeMs`.
 */
export class ConcatAssembler {
  private pending = new Map<string, { parts: (string | undefined)[]; got: number; first: number }>();

  constructor(private readonly maxAgeMs = 10 * 60_000) {}

  add(key: string, info: ConcatInfo, text: string, now = Date.now()): string | undefined {
    this.expire(now);
    const k = `${key}|${info.reference}|${info.total}`;
    let entry = this.pending.get(k);
    if (!entry) {
      entry = { parts: new Array(info.total).fill(undefined), got: 0, first: now };
      this.pending.set(k, entry);
    }
    const i = info.seq - 1;
    if (i < 0 || i >= info.total) return undefined;
    if (entry.parts[i] === undefined) entry.got++;
    entry.parts[i] = text;
    if (entry.got < info.total) return undefined;
    this.pending.delete(k);
    return entry.parts.join('');
  }

  get size() {
    return this.pending.size;
  }

  private expire(now: number) {
    for (const [k, e] of this.pending) {
      if (now - e.first > this.maxAgeMs) this.pending.delete(k);
    }
  }
}

/** An E.164 number or short code as an SMPP address with its type of number. */
export function toSmppAddress(address: string): { addr: string; ton: number; npi: number } {
  if (address.startsWith('+')) return { addr: address.slice(1), ton: TON.INTERNATIONAL, npi: NPI.ISDN };
  // Short codes are network specific; their digits are not an international number.
  return { addr: address, ton: TON.NETWORK_SPECIFIC, npi: NPI.UNKNOWN };
}

/** The six address fields of a submit_sm or deliver_sm from `from` to `to`. */
export function smppAddressFields(from: string, to: string) {
  const src = toSmppAddress(from);
  const dst = toSmppAddress(to);
  return {
    source_addr_ton: src.ton,
    source_addr_npi: src.npi,
    source_addr: src.addr,
    dest_addr_ton: dst.ton,
    dest_addr_npi: dst.npi,
    destination_addr: dst.addr,
  };
}

/** Back from SMPP: international numbers (and long digit strings with unknown TON) become E.164. */
export function fromSmppAddress(addr: string, ton: number | undefined): string {
  if (addr.startsWith('+')) return addr;
  if (ton === TON.INTERNATIONAL || ((ton ?? 0) === TON.UNKNOWN && /^\d{9,15}$/.test(addr))) return `+${addr}`;
  return addr;
}
