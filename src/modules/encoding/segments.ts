// How a text becomes SMS parts: GSM-7 when every character is in the GSM 03.38 alphabet
// (160 septets in one part, 153 per part of a longer message, which loses 7 septets to the
// concatenation header), else UCS-2 (70 / 67 UTF-16 code units). Parts never split an escape pair,
// a surrogate pair or a grapheme cluster (flag, ZWJ family, skin-tone emoji, letter + accents), so
// each part renders on its own and the handset reassembles exactly the text we were given.
import { GSM_SEPTETS } from './gsm-alphabet';
import { clusterEnd, lastBoundary } from './grapheme';
import { mayBecomeGsm, smartReplace, SmartReplacement } from './smart-encoding';

export type TextEncoding = 'GSM-7' | 'UCS-2';

export interface TextAnalysis {
  encoding: TextEncoding;
  /** Number of SMS parts; what every carrier rate limit is spent in. */
  segments: number;
  /** Unicode characters (code points) of the text sent. */
  characters: number;
  /** Length in the encoding's units: septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2. */
  units: number;
  /** The characters (grapheme clusters) that forced UCS-2, each once, in order of appearance. */
  nonGsmCharacters: string[];
  /** The text split into parts, one per segment, in order. */
  parts: string[];
  /** The text that is sent (after smart encoding, when it applied). */
  text: string;
  smartReplacements: SmartReplacement[];
}

export interface AnalyzeOptions {
  /** Replace typographic look-alikes with GSM-7 characters when that makes the whole text GSM-7. */
  smartEncoding?: boolean;
}

export const LIMITS = {
  'GSM-7': { single: 160, multi: 153 },
  'UCS-2': { single: 70, multi: 67 },
} as const;

/** Encoding, segments and parts of a message body. An empty body has no parts. */
export function analyzeText(body: string, opts: AnalyzeOptions = {}): TextAnalysis {
  let text = body;
  let smartReplacements: SmartReplacement[] = [];
  let septets = gsmLength(text);
  if (septets < 0 && opts.smartEncoding && mayBecomeGsm(text)) {
    // Smart encoding only pays when it makes the whole text GSM-7; otherwise the message stays
    // UCS-2 and the replacements would change the text for nothing ("…" even grows to "...").
    const smart = smartReplace(text);
    const smartSeptets = gsmLength(smart.text);
    if (smartSeptets >= 0) {
      text = smart.text;
      septets = smartSeptets;
      smartReplacements = smart.replacements;
    }
  }
  const characters = codePoints(text);
  if (septets >= 0) {
    const parts = septets <= LIMITS['GSM-7'].single ? (text ? [text] : []) : splitGsm(text);
    return {
      encoding: 'GSM-7',
      segments: parts.length,
      characters,
      units: septets,
      nonGsmCharacters: [],
      parts,
      text,
      smartReplacements,
    };
  }
  const parts = text.length <= LIMITS['UCS-2'].single ? [text] : splitUcs2(text);
  return {
    encoding: 'UCS-2',
    segments: parts.length,
    characters,
    units: text.length,
    nonGsmCharacters: nonGsmCharactersOf(text),
    parts,
    text,
    smartReplacements,
  };
}

/** The number of SMS parts a body costs (what rate limits are spent in). */
export function segmentsOf(body: string, opts: AnalyzeOptions = {}): number {
  // The common cases without building the analysis: plain GSM-7, and UCS-2 without smart encoding.
  const septets = gsmLength(body);
  if (septets >= 0) return septets === 0 ? 0 : septets <= LIMITS['GSM-7'].single ? 1 : splitGsm(body).length;
  if (!opts.smartEncoding) return body.length <= LIMITS['UCS-2'].single ? 1 : splitUcs2(body).length;
  return analyzeText(body, opts).segments;
}

/** Septets of a GSM-7 text, or -1 when a character is not in GSM-7. */
function gsmLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const s = GSM_SEPTETS[text.charCodeAt(i)];
    if (s === 0) return -1;
    n += s;
  }
  return n;
}

function splitGsm(t: string): string[] {
  const max = LIMITS['GSM-7'].multi;
  const parts: string[] = [];
  let start = 0;
  let used = 0;
  for (let i = 0; i < t.length; i++) {
    const s = GSM_SEPTETS[t.charCodeAt(i)];
    // An extension character (ESC + code) that would straddle the boundary moves whole to the next part.
    if (used + s > max) {
      parts.push(t.slice(start, i));
      start = i;
      used = 0;
    }
    used += s;
  }
  parts.push(t.slice(start));
  return parts;
}

function splitUcs2(text: string): string[] {
  const max = LIMITS['UCS-2'].multi;
  const parts: string[] = [];
  let start = 0;
  while (text.length - start > max) {
    const end = lastBoundary(text, start, start + max);
    parts.push(text.slice(start, end));
    start = end;
  }
  parts.push(text.slice(start));
  return parts;
}

function nonGsmCharactersOf(text: string): string[] {
  const seen = new Set<string>();
  for (let i = 0; i < text.length;) {
    const end = clusterEnd(text, i);
    for (let j = i; j < end; j++) {
      if (GSM_SEPTETS[text.charCodeAt(j)] === 0) {
        seen.add(text.slice(i, end));
        break;
      }
    }
    i = end;
  }
  return [...seen];
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (isHighSurrogate(c) && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
