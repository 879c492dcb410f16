// Message ids derived from what they answer (an inbound reply, a campaign recipient), so a retried
// batch or a redelivered Kafka record produces the same id and the store's ON CONFLICT and the
// dispatcher's claim keep it to one message. RFC 4122 name-based (SHA-1, version 5) UUIDs.
import { hash } from 'node:crypto';

const PARLEY_NAMESPACE = Buffer.from('6c1a2f3e9d8b4e7fa0b1c2d3e4f50617', 'hex');
const HEX = '0123456789abcdef';

export function deterministicId(...parts: string[]): string {
  // One-shot hash (no Hash object per id: a campaign expansion makes one per recipient).
  const hex = hash('sha1', Buffer.concat([PARLEY_NAMESPACE, Buffer.from(parts.join('\u0000'))]), 'hex');
  // Version 5 in the high nibble of byte 6; the RFC 4122 variant (10xx) in the high bits of byte 8.
  const variant = HEX[(parseInt(hex[16], 16) & 0x3) | 0x8];
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
