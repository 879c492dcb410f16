// What the consent API and the audiences API both show and read: a ledger event as JSON, and a
// number a user typed (E.164, or national with a country). Plain functions, no controller, so any
// controller may use them.
import { ApiError } from '../../infra/http/api-error';
import { normalizePhone } from '../carriers/phone-number';
import type { ConsentEventRow } from './consent.repository';

export function eventJson(e: ConsentEventRow) {
  return {
    id: String(e.id),
    number: e.e164,
    kind: e.kind,
    scope: e.scope,
    sender: e.sender_address || null,
    source: e.source,
    evidence: e.evidence,
    occurred_at: e.occurred_at.toISOString(),
    recorded_at: e.recorded_at.toISOString(),
  };
}

/** A number given by a user: E.164 or a national format with `country`; 400 naming the field. */
export function e164OrThrow(input: string, country: string | undefined, field: string): string {
  const n = normalizePhone(input, country?.toUpperCase());
  if (!n.ok) {
    throw ApiError.badRequest(`${field}: not a valid phone number (${n.reason}: ${n.detail})`, {
      field,
      reason: n.reason,
    });
  }
  return n.e164;
}
