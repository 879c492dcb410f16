import { describe, expect, it } from 'vitest';
import { GSM_BASIC_CHARACTERS, GSM_EXTENSION_CHARACTERS } from '../../encoding';
import { gsm7Decode, gsm7Encode, isGsm7 } from './gsm7-codec';

describe('GSM-7 codec', () => {
  it('puts every basic character at its 03.38 code and round-trips the whole table', () => {
    const text = GSM_BASIC_CHARACTERS + GSM_EXTENSION_CHARACTERS;
    const septets = gsm7Encode(text);
    expect(septets.length).toBe(GSM_BASIC_CHARACTERS.length + 2 * GSM_EXTENSION_CHARACTERS.length);
    expect(gsm7Decode(septets)).toBe(text);
    expect([...gsm7Encode('@£$Δ_ !0A¡Z§¿azà')]).toEqual([
      0x00, 0x01, 0x02, 0x10, 0x11, 0x20, 0x21, 0x30, 0x41, 0x40, 0x5a, 0x5f, 0x60, 0x61, 0x7a, 0x7f,
    ]);
    expect([...gsm7Encode('ÆæßÉ')]).toEqual([0x1c, 0x1d, 0x1e, 0x1f]);
  });

  it('writes the extension table as ESC + code', () => {
    expect([...gsm7Encode('\f^{}\\[~]|€')]).toEqual([
      0x1b, 0x0a, 0x1b, 0x14, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x2f, 0x1b, 0x3c, 0x1b, 0x3d, 0x1b, 0x3e, 0x1b,
      0x40, 0x1b, 0x65,
    ]);
  });

  it('replaces what GSM-7 cannot carry and shows unknown extensions as their basic character', () => {
    expect(gsm7Encode('aЖ😀b').toString('latin1')).toBe('a??b');
    expect(gsm7Decode(Buffer.from([0x1b, 0x41]))).toBe('A');
    expect(isGsm7('Hello {world} €5')).toBe(true);
    expect(isGsm7('Привет')).toBe(false);
  });
});
