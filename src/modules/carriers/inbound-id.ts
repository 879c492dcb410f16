// The id of an inbound message (MO), derived from what identifies it at the carrier, so an MO that
// the carrier offers again (an SMSC re-offering a deliver_sm the ESME refused while Kafka was away,
// or whose response was lost with the connection; a provider retrying its webhook) gets the same
// id: the router stores it once and acts on it once. Pure: no framework, no I/O.
import { deterministicId } from '../../infra/ids/deterministic-id';

export interface CarrierMoIdentity {
  /** The connector it arrived on: carriers' own ids are only unique within one carrier link. */
  connectorId: string;
  /** Customer number, E.164. */
  from: string;
  /** Our sender address it was sent to. */
  to: string;
  /** The carrier's own id for the MO (SMPP TLV, provider MessageSid), when it gives one. */
  carrierMessageId?: string;
}

/**
 * The deterministic id of an MO the carrier identified, or undefined when it gave no id of its own:
 * then nothing tells a re-offer from a second message with the same text, and the caller must give
 * it a fresh id rather than merge two real messages.
 */
export function carrierInboundId(m: CarrierMoIdentity): string | undefined {
  const carrierId = m.carrierMessageId?.trim();
  if (!carrierId) return undefined;
  return deterministicId('inbound', m.connectorId, m.from, m.to, carrierId);
}
