// Which message part a receipt is for. A receipt names a connector and a carrier id, and carrier ids
// are not unique over time (SMSCs restart their counters, counters wrap), so a receipt is only ever
// applied to a part of that connector, with that id, that is still open, and when the receipt names
// a handset (its source address, or its destination on SMSCs that swap them), only to a part sent
// to that handset; among those, the most recently submitted. So right after a restart, when a
// receipt for a new message overtakes that message's stored part, it is not taken by an older
// message still open under the same id: it waits (parked) for its own. A receipt that fits no open
// part is never forced onto a final one. Pure.

export interface OpenPart {
  messageId: string;
  partIndex: number;
  connectorId: string;
  receiptKey: string;
  /** The message's recipient, E.164. */
  to: string;
  /** The address it was sent from: never the handset a receipt names. */
  sender: string;
  submittedAt: Date;
}

export interface ReceiptLookup {
  connectorId: string;
  /** The receipt's id in its connector's key form; undefined when it has none. */
  key: string | undefined;
  /** The receipt's addresses (source, then destination), when it gave them. */
  addresses?: (string | undefined)[];
}

const digitsOf = (address: string) => address.replace(/\D/g, '');

/** Digits that tell handsets apart: the national significant number's tail, whatever the prefix. */
const TAIL = 9;
/** Fewer digits than this is a short code or an SMSC's own address, not a handset. */
const MIN_HANDSET_DIGITS = 7;

const isHandset = (address: string | undefined) =>
  !!address && digitsOf(address).length >= MIN_HANDSET_DIGITS;

/**
 * True when two addresses name the same handset: their last nine digits (all of them, when shorter)
 * are the same, so `+447700900123`, `447700900123` and `07700900123` (an SMSC writing the national
 * form) are one handset.
 */
export function sameHandset(a: string | undefined, b: string | undefined): boolean {
  if (!isHandset(a) || !isHandset(b)) return false;
  return digitsOf(a!).slice(-TAIL) === digitsOf(b!).slice(-TAIL);
}

export const matchKey = (connectorId: string, key: string) => `${connectorId}\u0000${key}`;

/** Open parts grouped by connector and key, for `pickPart`. */
export function indexParts<P extends OpenPart>(parts: readonly P[]): Map<string, P[]> {
  const out = new Map<string, P[]>();
  for (const p of parts) {
    const k = matchKey(p.connectorId, p.receiptKey);
    const list = out.get(k);
    if (list) list.push(p);
    else out.set(k, [p]);
  }
  return out;
}

/**
 * The open part a receipt is for, or undefined. Two receipts of one batch with the same key and
 * handset pick the same part (a receipt sent twice is a duplicate, never a reason to move on to an
 * older message with that id); the state machine then refuses the second final status.
 */
export function pickPart<P extends OpenPart>(r: ReceiptLookup, index: Map<string, P[]>): P | undefined {
  if (r.key === undefined) return undefined;
  const candidates = index.get(matchKey(r.connectorId, r.key));
  if (!candidates?.length) return undefined;
  const named = (r.addresses ?? []).filter(isHandset);
  let best: P | undefined;
  for (const p of candidates) {
    // Our own sender address (the receipt's destination, or its source on SMSCs that swap them)
    // names no handset.
    const handsets = named.filter((a) => !sameHandset(a, p.sender));
    if (handsets.length && !handsets.some((h) => sameHandset(p.to, h))) continue;
    if (!best || p.submittedAt.getTime() > best.submittedAt.getTime()) best = p;
  }
  return best;
}
