// The four PDUs an ESME handles for every message, read and written directly: submit_sm out,
// submit_sm_resp in, deliver_sm in (receipts and customer messages), deliver_sm_resp out. The npm
// `smpp` package builds each PDU through generic per-field tables and filters (it walks every key
// of the object, prototype methods included, on every encode and decode), which cost the
// dispatcher more CPU per message than everything else it does; these do the same bytes in one
// pass (SMPP 3.4 §4.4, §4.6, §5.3). Every other PDU still goes through the package. Pure.

export const CMD = {
  generic_nack: 0x80000000,
  submit_sm: 0x00000004,
  submit_sm_resp: 0x80000004,
  deliver_sm: 0x00000005,
  deliver_sm_resp: 0x80000005,
} as const;

const TLV_RECEIPTED_MESSAGE_ID = 0x001e;
const TLV_MESSAGE_STATE = 0x0427;
const TLV_NETWORK_ERROR_CODE = 0x0423;
const TLV_MESSAGE_PAYLOAD = 0x0424;
const TLV_SAR_MSG_REF_NUM = 0x020c;
const TLV_SAR_TOTAL_SEGMENTS = 0x020e;
const TLV_SAR_SEGMENT_SEQNUM = 0x020f;

/** The submit_sm fields the connector sets (the rest are 0 or empty). */
export interface SubmitFields {
  service_type?: string;
  source_addr_ton: number;
  source_addr_npi: number;
  source_addr: string;
  dest_addr_ton: number;
  dest_addr_npi: number;
  destination_addr: string;
  esm_class: number;
  registered_delivery: number;
  data_coding: number;
  short_message: Buffer;
  validity_period?: Date;
  /** Vendor TLV (tag given) carrying our message id, C string. */
  vendorTlv?: { tag: number; value: string };
}

/** YYMMDDhhmm in UTC: the start of SMPP's absolute time, and a receipt's `submit date`/`done date`. */
export function utcMinuteDigits(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    p(d.getUTCFullYear() % 100) +
    p(d.getUTCMonth() + 1) +
    p(d.getUTCDate()) +
    p(d.getUTCHours()) +
    p(d.getUTCMinutes())
  );
}

/** SMPP absolute time, YYMMDDhhmmsstnn+ in UTC (§7.1.1). */
export function smppTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${utcMinuteDigits(d)}${p(d.getUTCSeconds())}${Math.floor(d.getUTCMilliseconds() / 100)}00+`;
}

export function encodeSubmitSm(f: SubmitFields, sequence: number): Buffer {
  const service = f.service_type ?? '';
  const validity = f.validity_period ? smppTime(f.validity_period) : '';
  const sm = f.short_message;
  // A short_message longer than its one-octet length field travels as message_payload.
  const inPayload = sm.length > 254;
  const tlvLen = (inPayload ? 4 + sm.length : 0) + (f.vendorTlv ? 4 + f.vendorTlv.value.length + 1 : 0);
  const length =
    16 +
    (service.length + 1) +
    2 +
    (f.source_addr.length + 1) +
    2 +
    (f.destination_addr.length + 1) +
    3 +
    1 + // schedule_delivery_time (empty)
    (validity.length + 1) +
    5 +
    (inPayload ? 0 : sm.length) +
    tlvLen;
  const b = Buffer.allocUnsafe(length);
  let o = header(b, length, CMD.submit_sm, 0, sequence);
  o = cstring(b, o, service);
  b[o++] = f.source_addr_ton;
  b[o++] = f.source_addr_npi;
  o = cstring(b, o, f.source_addr);
  b[o++] = f.dest_addr_ton;
  b[o++] = f.dest_addr_npi;
  o = cstring(b, o, f.destination_addr);
  b[o++] = f.esm_class;
  b[o++] = 0; // protocol_id
  b[o++] = 0; // priority_flag
  b[o++] = 0; // schedule_delivery_time: immediate
  o = cstring(b, o, validity);
  b[o++] = f.registered_delivery;
  b[o++] = 0; // replace_if_present_flag
  b[o++] = f.data_coding;
  b[o++] = 0; // sm_default_msg_id
  if (inPayload) {
    b[o++] = 0;
    b.writeUInt16BE(TLV_MESSAGE_PAYLOAD, o);
    b.writeUInt16BE(sm.length, o + 2);
    o += 4;
  } else b[o++] = sm.length;
  o += sm.copy(b, o);
  if (f.vendorTlv) {
    const v = f.vendorTlv.value.length + 1;
    b.writeUInt16BE(f.vendorTlv.tag, o);
    b.writeUInt16BE(v, o + 2);
    o = cstring(b, o + 4, f.vendorTlv.value);
  }
  return b;
}

export function encodeDeliverSmResp(sequence: number, status: number): Buffer {
  const b = Buffer.allocUnsafe(17);
  header(b, 17, CMD.deliver_sm_resp, status, sequence);
  b[16] = 0; // message_id: unused, empty
  return b;
}

/** A decoded PDU as the connector reads it (the `smpp` package's field names). */
export interface WirePdu {
  command: string;
  command_id: number;
  command_status: number;
  sequence_number: number;
  [field: string]: unknown;
}

/**
 * Decodes a submit_sm_resp, generic_nack or deliver_sm (a whole PDU, its length included), or
 * undefined for any other command (the caller hands those to the package). short_message and
 * message_payload stay octets: the connector decodes them by data_coding.
 */
export function decodeHot(b: Buffer): IncomingPdu | undefined {
  if (b.length < 16) return undefined;
  const id = b.readUInt32BE(4);
  const status = b.readUInt32BE(8);
  const sequence = b.readUInt32BE(12);
  if (id === CMD.submit_sm_resp) {
    const p = new HotPdu('submit_sm_resp', id, status, sequence);
    p.message_id = b.length > 16 ? readCString(b, 16)[0] : '';
    return p;
  }
  if (id === CMD.generic_nack) return new HotPdu('generic_nack', id, status, sequence);
  if (id !== CMD.deliver_sm) return undefined;
  const p = new HotPdu('deliver_sm', id, status, sequence);
  let o = 16;
  let s: string;
  [s, o] = readCString(b, o);
  p.service_type = s;
  p.source_addr_ton = b[o++];
  p.source_addr_npi = b[o++];
  [s, o] = readCString(b, o);
  p.source_addr = s;
  p.dest_addr_ton = b[o++];
  p.dest_addr_npi = b[o++];
  [s, o] = readCString(b, o);
  p.destination_addr = s;
  p.esm_class = b[o++];
  p.protocol_id = b[o++];
  p.priority_flag = b[o++];
  [s, o] = readCString(b, o);
  p.schedule_delivery_time = s;
  [s, o] = readCString(b, o);
  p.validity_period = s;
  p.registered_delivery = b[o++];
  p.replace_if_present_flag = b[o++];
  p.data_coding = b[o++];
  p.sm_default_msg_id = b[o++];
  const smLength = b[o++];
  if (o + smLength > b.length) throw new Error('deliver_sm: short_message runs past the PDU');
  p.short_message = b.subarray(o, o + smLength);
  o += smLength;
  while (o + 4 <= b.length) {
    const tag = b.readUInt16BE(o);
    const len = b.readUInt16BE(o + 2);
    o += 4;
    if (o + len > b.length) throw new Error(`deliver_sm: TLV 0x${tag.toString(16)} runs past the PDU`);
    const v = b.subarray(o, o + len);
    o += len;
    switch (tag) {
      case TLV_RECEIPTED_MESSAGE_ID:
        p.receipted_message_id = readCString(v, 0)[0];
        break;
      case TLV_MESSAGE_STATE:
        if (len >= 1) p.message_state = v[0];
        break;
      case TLV_NETWORK_ERROR_CODE:
        p.network_error_code = v;
        break;
      case TLV_MESSAGE_PAYLOAD:
        p.message_payload = v;
        break;
      case TLV_SAR_MSG_REF_NUM:
        if (len >= 2) p.sar_msg_ref_num = v.readUInt16BE(0);
        break;
      case TLV_SAR_TOTAL_SEGMENTS:
        if (len >= 1) p.sar_total_segments = v[0];
        break;
      case TLV_SAR_SEGMENT_SEQNUM:
        if (len >= 1) p.sar_segment_seqnum = v[0];
        break;
    }
  }
  return p;
}

function header(b: Buffer, length: number, id: number, status: number, sequence: number): number {
  b.writeUInt32BE(length, 0);
  b.writeUInt32BE(id, 4);
  b.writeUInt32BE(status, 8);
  b.writeUInt32BE(sequence, 12);
  return 16;
}

function cstring(b: Buffer, o: number, s: string): number {
  const n = b.write(s, o, 'latin1');
  b[o + n] = 0;
  return o + n + 1;
}

/** A C string from `o` (to its NUL, or the end), and the offset after it. */
function readCString(b: Buffer, o: number): [string, number] {
  let end = o;
  while (end < b.length && b[end] !== 0) end++;
  return [b.toString('latin1', o, end), Math.min(b.length, end + 1)];
}

/** A PDU to hand the package's Session.send: it numbers it, then asks for its bytes. */
export interface OutgoingPdu {
  command: string;
  command_id: number;
  sequence_number: number;
  isResponse(): boolean;
  toBuffer(): Buffer;
}

export function submitSmPdu(f: SubmitFields): OutgoingPdu {
  return {
    command: 'submit_sm',
    command_id: CMD.submit_sm,
    sequence_number: 0,
    isResponse: () => false,
    toBuffer() {
      return encodeSubmitSm(f, this.sequence_number);
    },
  };
}

/** A decoded deliver_sm, submit_sm_resp or generic_nack as the Session hands PDUs on. */
export interface IncomingPdu extends WirePdu {
  isResponse(): boolean;
  response(options?: { command_status?: number }): OutgoingPdu;
}

class HotPdu implements IncomingPdu {
  [field: string]: unknown;

  constructor(
    readonly command: string,
    readonly command_id: number,
    readonly command_status: number,
    readonly sequence_number: number,
  ) {}

  isResponse(): boolean {
    return (this.command_id & 0x80000000) !== 0;
  }

  response(options: { command_status?: number } = {}): OutgoingPdu {
    const sequence = this.sequence_number;
    const status = options.command_status ?? 0;
    return {
      command: 'deliver_sm_resp',
      command_id: CMD.deliver_sm_resp,
      sequence_number: sequence,
      isResponse: () => true,
      toBuffer: () => encodeDeliverSmResp(sequence, status),
    };
  }
}
