// The npm `smpp` package as Parley uses it, on both sides of a bind (connector and simulator). Our
// vendor TLV is registered here once, so every PDU this process builds or parses knows it.
import type { Socket } from 'node:net';
import * as smpp from 'smpp';
import { gsm7Decode, gsm7Encode, isGsm7 } from './gsm7-codec';

/**
 * Vendor TLV carrying Parley's message id on submit_sm (tag in the 0x1400-0x3FFF vendor range).
 * The SMSC ignores it; the simulator uses it to count the same message reaching it twice.
 */
export const PARLEY_MESSAGE_ID_TLV = 0x1501;

let registered = false;
function registerTlvs() {
  if (registered) return;
  registered = true;
  smpp.addTLV('parley_message_id', { id: PARLEY_MESSAGE_ID_TLV, type: smpp.types.tlv.cstring });
  // The package decodes every data_coding 0 short_message with its GSM coder, which rebuilds its
  // tables and regular expressions on each call (a fifth of the CPU of a busy bind). Ours gives
  // the same text (see gsm7-codec.spec.ts) from tables built once.
  smpp.encodings.ASCII = { match: isGsm7, encode: gsm7Encode, decode: gsm7Decode };
}
registerTlvs();

/**
 * The package writes each PDU to the socket on its own: a syscall and a TCP segment per submit,
 * answer and receipt (a tenth of a busy bind's CPU). Corked on the first write of an event-loop
 * turn and uncorked after it, everything a turn sends leaves in one writev. Order is unchanged.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as Socket['write'];
}

export { smpp };
