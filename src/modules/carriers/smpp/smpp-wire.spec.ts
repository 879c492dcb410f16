import { describe, expect, it } from 'vitest';
import { PARLEY_MESSAGE_ID_TLV, smpp } from './smpp-lib';
import { concatUdh, encodeText, messageOf } from './smpp-pdu';
import { CMD, decodeHot, encodeDeliverSmResp, encodeSubmitSm, smppTime } from './smpp-wire';

// The `smpp` package reads and writes the same bytes: each direction is checked against it.
const libDecode = (b: Buffer) => new smpp.PDU(b) as unknown as Record<string, any>;

describe('smpp-wire', () => {
  it('writes a submit_sm the package reads field for field', () => {
    const text = encodeText('Your parcel is out for delivery', 'GSM-7');
    const validity = new Date(Date.UTC(2026, 11, 7, 18, 30, 5, 700));
    const b = encodeSubmitSm(
      {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: '14155550100',
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: '447700900123',
        esm_class: 0,
        registered_delivery: 1,
        data_coding: 0,
        short_message: text,
        validity_period: validity,
        vendorTlv: { tag: PARLEY_MESSAGE_ID_TLV, value: '5516a151-4970-45b6-b73e-95aefdb11cbf' },
      },
      77,
    );
    expect(b.readUInt32BE(0)).toBe(b.length);
    const p = libDecode(b);
    expect(p).toMatchObject({
      command: 'submit_sm',
      sequence_number: 77,
      source_addr_ton: 1,
      source_addr: '14155550100',
      destination_addr: '447700900123',
      registered_delivery: 1,
      data_coding: 0,
      parley_message_id: '5516a151-4970-45b6-b73e-95aefdb11cbf',
    });
    expect(messageOf(p).text).toBe('Your parcel is out for delivery');
    // The package's own encoding of the same Date.
    const lib = new smpp.PDU('submit_sm', { validity_period: validity }) as unknown as { toBuffer(): Buffer };
    expect(libDecode(lib.toBuffer()).validity_period).toEqual(libDecode(b).validity_period);
    expect(smppTime(validity)).toBe('261207183005700+');
  });

  it('writes a concatenated UCS-2 part with its UDH', () => {
    const part = Buffer.concat([concatUdh(9, 2, 1), encodeText('Привет 😀', 'UCS-2')]);
    const b = encodeSubmitSm(
      {
        source_addr_ton: 3,
        source_addr_npi: 0,
        source_addr: '72725',
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: '14155551234',
        esm_class: 0x40,
        registered_delivery: 1,
        data_coding: 8,
        short_message: part,
      },
      1,
    );
    const p = libDecode(b);
    expect(messageOf(p)).toMatchObject({ text: 'Привет 😀' });
    expect(messageOf(p).udh?.[0]).toEqual(Buffer.from([0x00, 0x03, 9, 2, 1]));
  });

  it('reads a submit_sm_resp, a generic_nack and a deliver_sm receipt as the package writes them', () => {
    const resp = new smpp.PDU('submit_sm_resp', { sequence_number: 5, message_id: '1060' }) as any;
    expect(decodeHot(resp.toBuffer())).toMatchObject({
      command: 'submit_sm_resp',
      command_status: 0,
      sequence_number: 5,
      message_id: '1060',
    });
    const refused = new smpp.PDU('submit_sm_resp', { sequence_number: 6, command_status: 0x58 }) as any;
    expect(decodeHot(refused.toBuffer())).toMatchObject({ command_status: 0x58, sequence_number: 6 });
    const nack = new smpp.PDU('generic_nack', { sequence_number: 7, command_status: 3 }) as any;
    expect(decodeHot(nack.toBuffer())).toMatchObject({ command: 'generic_nack', command_status: 3 });

    const text =
      'id:1060 sub:001 dlvrd:001 submit date:2612071830 done date:2612071830 stat:DELIVRD err:000 text:';
    const dlr = new smpp.PDU('deliver_sm', {
      sequence_number: 9,
      source_addr_ton: 1,
      source_addr: '14155551234',
      dest_addr_ton: 1,
      destination_addr: '14155550100',
      esm_class: 4,
      short_message: Buffer.from(text, 'latin1'),
      receipted_message_id: '1060',
      message_state: 2,
    }) as any;
    const p = decodeHot(dlr.toBuffer())!;
    expect(p).toMatchObject({
      command: 'deliver_sm',
      sequence_number: 9,
      source_addr: '14155551234',
      destination_addr: '14155550100',
      esm_class: 4,
      receipted_message_id: '1060',
      message_state: 2,
    });
    expect(messageOf(p).text).toBe(text);
  });

  it('reads a concatenated MO with SAR TLVs, and a long one in message_payload', () => {
    const mo = new smpp.PDU('deliver_sm', {
      sequence_number: 3,
      source_addr: '14155551234',
      destination_addr: '72725',
      data_coding: 8,
      short_message: encodeText('STOP\u0000please', 'UCS-2'),
      sar_msg_ref_num: 513,
      sar_total_segments: 2,
      sar_segment_seqnum: 1,
    }) as any;
    const p = decodeHot(mo.toBuffer())!;
    expect(p).toMatchObject({ sar_msg_ref_num: 513, sar_total_segments: 2, sar_segment_seqnum: 1 });
    expect(messageOf(p).text).toBe('STOP\u0000please');
    const long = 'x'.repeat(400);
    const payload = new smpp.PDU('deliver_sm', {
      sequence_number: 4,
      message_payload: Buffer.from(long, 'latin1'),
    }) as any;
    expect(messageOf(decodeHot(payload.toBuffer())!).text).toBe(long);
  });

  it('answers a deliver_sm the package reads, and leaves other commands to it', () => {
    const r = libDecode(encodeDeliverSmResp(41, 0x64));
    expect(r).toMatchObject({ command: 'deliver_sm_resp', sequence_number: 41, command_status: 0x64 });
    const bind = new smpp.PDU('bind_transceiver_resp', { sequence_number: 1, system_id: 'smsc' }) as any;
    expect(decodeHot(bind.toBuffer())).toBeUndefined();
    expect(CMD.submit_sm).toBe(4);
  });

  it('refuses a PDU whose fields run past its end', () => {
    const dlr = (
      new smpp.PDU('deliver_sm', { sequence_number: 9, short_message: Buffer.from('abc') }) as any
    ).toBuffer() as Buffer;
    const cut = Buffer.from(dlr.subarray(0, dlr.length - 2));
    cut.writeUInt32BE(cut.length, 0);
    expect(() => decodeHot(cut)).toThrow(/runs past/);
  });
});
