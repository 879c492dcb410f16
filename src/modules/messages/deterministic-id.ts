// Message ids derived from what they answer (an inbound reply, a campaign recipient), so a retried
// batch or a redelivered Kafka record produces the same id and the store's ON CONFLICT and the
// dispatcher's claim keep it to one message. RFC 4122 name-based (SHA-1, version 5) UUIDs.
import { createHash } from 'node:crypto';

const PARLEY_NAMESPACE = Buffer.from('6c1a2f3e9d8b4e7fa0b1c2d3e4f50617', 'hex');

export function deterministicId(...parts: string[]): string {
  const h = createHash('sha1').update(PARLEY_NAMESPACE).update(parts.join('\u0000')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
