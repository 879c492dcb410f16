// The GSM 03.38 default alphabet and its extension table (3GPP TS 23.038 §6.2.1): which characters
// a GSM-7 message can carry and how many septets each costs. The extension characters are sent as
// ESC + code, so they cost two septets and their pair must stay inside one part.

/** The 128 basic characters in code order (0x1B, the escape to the extension table, is excluded). */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞ' +
  'ÆæßÉ' +
  ' !"#¤%&\'()*+,-./' +
  '0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNO' +
  'PQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmno' +
  'pqrstuvwxyzäöñüà';

/** The extension table's characters (form feed, ^ { } \ [ ~ ] | €). */
const EXTENSION = '\f^{}\\[~]|€';

/**
 * Septets per UTF-16 code unit: 1 basic, 2 extension, 0 not in GSM-7. Every GSM character is in the
 * Basic Multilingual Plane, so a surrogate is never GSM.
 */
export const GSM_SEPTETS = new Uint8Array(0x10000);
for (const ch of BASIC) GSM_SEPTETS[ch.charCodeAt(0)] = 1;
for (const ch of EXTENSION) GSM_SEPTETS[ch.charCodeAt(0)] = 2;

/** Septets a GSM character costs (1 or 2), or 0 when it is not in GSM-7. */
export function gsmSeptets(ch: string): number {
  return ch.length === 1 ? GSM_SEPTETS[ch.charCodeAt(0)] : 0;
}

export const GSM_BASIC_CHARACTERS = BASIC;
export const GSM_EXTENSION_CHARACTERS = EXTENSION;
