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
 * answer and receipt (a tenth of a busy bind's CPU). Corked on a PDU's write and uncorked once the
 * code running now (its microtasks included) is done, or at the end of the event-loop turn, the
 * PDUs written together leave in one writev. Order is unchanged.
 *
 * `tick` (the ESME side) flushes right after the current microtasks: a submit leaves the moment the
 * dispatcher decided it may (its send window counts it then), not after the rest of the turn's
 * I/O callbacks have run, which on a busy process can be tens of milliseconds later and would let
 * submits counted a turn apart reach the carrier together. `turn` (the simulator) gathers a whole
 * turn's answers and receipts.
 *
 * Nagle's algorithm is off for the same reason: the writes are already gathered, and with it on,
 * PDUs wait in the kernel while an earlier segment is unacknowledged (up to the peer's 40 ms
 * delayed ACK when its answer is not due yet), then leave together.
 */
export function coalesceWrites(socket: Socket, flush: 'tick' | 'turn' = 'turn'): void {
  socket.setNoDelay(true);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      if (flush === 'tick') queueMicrotask(uncork);
      else setImmediate(uncork);
    }
    return write(...args);
  }) as Socket['write'];
}

export { smpp };
