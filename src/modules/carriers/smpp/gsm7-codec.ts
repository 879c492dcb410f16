// GSM 03.38 text <-> septets (one per octet, unpacked, as SMPP's data_coding 0 carries them), the
// extension table as ESC + code. Table-driven: built once from the encoding module's alphabet, so
// the encoder that counts segments and the codec that puts them on the wire agree on every character.
import { GSM_BASIC_CHARACTERS } from '../../encoding';

const ESC = 0x1b;

/** Extension table codes (3GPP TS 23.038 §6.2.1.1) of the characters reached through ESC. */
const EXTENSION_CODES: Record<string, number> = {
  '\f': 0x0a,
  '^': 0x14,
  '{': 0x28,
  '}': 0x29,
  '\\': 0x2f,
  '[': 0x3c,
  '~': 0x3d,
  ']': 0x3e,
  '|': 0x40,
  '€': 0x65,
};

// The basic table in code order: the alphabet string leaves out 0x1B (the escape itself).
const BASIC_BY_CODE = [...GSM_BASIC_CHARACTERS.slice(0, ESC), '\x1b', ...GSM_BASIC_CHARACTERS.slice(ESC)];
if (BASIC_BY_CODE.length !== 128) throw new Error('GSM basic table must have 128 entries');

/** UTF-16 code unit → septet (basic), 0x100 | code (extension), or -1 (not GSM). */
const ENCODE = new Int16Array(0x10000).fill(-1);
BASIC_BY_CODE.forEach((ch, code) => {
  if (code !== ESC) ENCODE[ch.charCodeAt(0)] = code;
});
for (const [ch, code] of Object.entries(EXTENSION_CODES)) ENCODE[ch.charCodeAt(0)] = 0x100 | code;

const EXTENSION_BY_CODE: (string | undefined)[] = new Array(128);
for (const [ch, code] of Object.entries(EXTENSION_CODES)) EXTENSION_BY_CODE[code] = ch;

const REPLACEMENT = 0x3f; // '?'

/** Text to unpacked septets; a character outside GSM-7 becomes '?' (the encoder never sends one). */
export function gsm7Encode(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length * 2);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) i++; // a surrogate pair is one character
    const e = ENCODE[c];
    if (e < 0) out[n++] = REPLACEMENT;
    else if (e & 0x100) {
      out[n++] = ESC;
      out[n++] = e & 0x7f;
    } else out[n++] = e;
  }
  return out.subarray(0, n);
}

/** Unpacked septets to text. An unknown extension code shows as its basic character (TS 23.038). */
export function gsm7Decode(septets: Buffer): string {
  let s = '';
  for (let i = 0; i < septets.length; i++) {
    const b = septets[i] & 0x7f;
    if (b === ESC && i + 1 < septets.length) {
      const next = septets[++i] & 0x7f;
      s += EXTENSION_BY_CODE[next] ?? BASIC_BY_CODE[next];
    } else s += BASIC_BY_CODE[b];
  }
  return s;
}

/** True when every character has a GSM-7 septet. */
export function isGsm7(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (ENCODE[text.charCodeAt(i)] < 0) return false;
  return true;
}
