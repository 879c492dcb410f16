// The one place an inbound message (SMPP MO, provider webhook) becomes the envelope Parley puts on
// sms.inbound, and the one reading of such a record back. A customer's text is kept whatever it
// holds: code points PostgreSQL (NUL) or UTF-8 (unpaired surrogates) cannot carry, and the
// noncharacters U+FFFE/U+FFFF, are replaced visibly with U+FFFD, and the text as received is kept
// beside it (escaped) as evidence. Anyone who can text one of our numbers must never be able to
// stop the router, or the STOPs behind their message. Pure: no framework, no I/O.
import { randomUUID } from 'node:crypto';
import { replaceUnsafeText, unsafeTextReason } from '../../infra/text/text-safety';
import type { RawInbound } from './connector';
import { carrierInboundId } from './inbound-id';
import { isUuid } from '../../infra/ids/uuid';

/** On sms.inbound, keyed by the customer's number. */
export interface InboundEnvelope extends RawInbound {
  /** Parley's id for the inbound message (UUID), assigned where it entered. */
  id: string;
  /** The text as received, escaped, when `body` had code points replaced. */
  bodyRaw?: string;
}

/** The text with every unsafe code point replaced by U+FFFD, and whether any was. */
export function visibleText(text: string): { text: string; replaced: boolean } {
  if (unsafeTextReason(text) === undefined) return { text, replaced: false };
  return { text: replaceUnsafeText(text), replaced: true };
}

/** The text as received, escaped so that it stores anywhere (`\u0000` for a NUL). */
export function evidenceOf(text: string): string {
  // JSON escapes NUL and unpaired surrogates; the noncharacters are escaped too, to be seen.
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** Addresses and ids: unsafe code points dropped (they are never part of a number or an id). */
const cleanId = (v: string) =>
  unsafeTextReason(v) === undefined ? v : replaceUnsafeText(v).replace(/\uFFFD/g, '');

/** Builds the envelope of an inbound message: its id, and its fields safe to store. */
export function inboundEnvelopeOf(m: RawInbound): InboundEnvelope {
  const safe: RawInbound = {
    ...m,
    connectorId: cleanId(m.connectorId),
    from: cleanId(m.from),
    to: cleanId(m.to),
    ...(m.carrierMessageId !== undefined ? { carrierMessageId: cleanId(m.carrierMessageId) } : {}),
  };
  const body = visibleText(m.body);
  return {
    ...safe,
    body: body.text,
    ...(body.replaced ? { bodyRaw: evidenceOf(m.body) } : {}),
    // The carrier's identity of the MO names it, so an MO offered again is stored and acted on once.
    id: carrierInboundId(safe) ?? randomUUID(),
  };
}

const MAX_BODY = 64 * 1024;
/** The last instant a JavaScript Date holds (epoch ms). */
const MAX_TIME = 8.64e15;

/**
 * Reads an sms.inbound record: the envelope (its text made safe again, whoever produced it), or why
 * it cannot be one.
 */
export function readInboundRecord(
  value: Buffer | null,
): { ok: true; envelope: InboundEnvelope } | { ok: false; reason: string } {
  let v: unknown;
  try {
    v = JSON.parse(value?.toString('utf8') ?? '');
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const e = v as Partial<InboundEnvelope> | null;
  if (!e || typeof e !== 'object') return { ok: false, reason: 'not an object' };
  for (const f of ['id', 'connectorId', 'from', 'to', 'body'] as const)
    if (typeof e[f] !== 'string') return { ok: false, reason: `${f} missing or not a string` };
  if (!isUuid(e.id!)) return { ok: false, reason: 'id is not a UUID' };
  if (!e.from || !e.to) return { ok: false, reason: 'from and to must not be empty' };
  if (e.body!.length > MAX_BODY) return { ok: false, reason: `body longer than ${MAX_BODY} characters` };
  const receivedAt = Number(e.receivedAt);
  if (!Number.isFinite(receivedAt) || receivedAt <= 0 || receivedAt > MAX_TIME)
    return { ok: false, reason: 'receivedAt is not a time' };
  const body = visibleText(e.body!);
  return {
    ok: true,
    envelope: {
      id: e.id!,
      connectorId: cleanId(e.connectorId!),
      from: cleanId(e.from!),
      to: cleanId(e.to!),
      body: body.text,
      ...(typeof e.bodyRaw === 'string'
        ? { bodyRaw: e.bodyRaw }
        : body.replaced
          ? { bodyRaw: evidenceOf(e.body!) }
          : {}),
      ...(typeof e.carrierMessageId === 'string' ? { carrierMessageId: cleanId(e.carrierMessageId) } : {}),
      receivedAt,
    },
  };
}
