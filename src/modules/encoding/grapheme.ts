// Where a text may be cut without breaking what a reader sees as one character (a grapheme
// cluster: a letter and its accents, an emoji with its skin tone or ZWJ family, a flag, a Hangul
// syllable in jamo, CR LF), decided from the code units on either side of the cut: constant work
// per cut, so splitting and scanning stay linear in the text whatever it holds (Intl.Segmenter's
// `containing` is not: it rescans, and 64,000 emoji took seconds). It follows UAX #29's rules for
// what SMS text carries and errs on the side of keeping units together: a cut it refuses after a
// ZWJ is one the full rules might allow (never the reverse), and Prepend characters (a few Indic
// and Arabic signs) are not treated apart. Pure.

/** Code units that attach to what precedes them: combining and spacing marks, ZWJ, variation selectors. */
const EXTEND = new Uint8Array(0x10000);
{
  const mark = /\p{M}/u;
  for (let c = 0; c < 0x10000; c++) if (mark.test(String.fromCharCode(c))) EXTEND[c] = 1;
  for (const c of [0x200c, 0x200d]) EXTEND[c] = 1;
}

const ZWJ = 0x200d;
/** Indic viramas that join two consonants into one conjunct (UAX #29 GB9c: Devanagari to Malayalam). */
const LINKERS = new Set([0x094d, 0x09cd, 0x0acd, 0x0b4d, 0x0c4d, 0x0d4d]);
const letter = /\p{L}/u;
const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
const isControl = (c: number) => c < 0x20 || (c >= 0x7f && c < 0xa0) || c === 0x2028 || c === 0x2029;

// Hangul jamo classes: L, V, T, and precomposed LV / LVT syllables.
const L = (c: number) => (c >= 0x1100 && c <= 0x115f) || (c >= 0xa960 && c <= 0xa97c);
const V = (c: number) => (c >= 0x1160 && c <= 0x11a7) || (c >= 0xd7b0 && c <= 0xd7c6);
const T = (c: number) => (c >= 0x11a8 && c <= 0x11ff) || (c >= 0xd7cb && c <= 0xd7fb);
const SYLLABLE = (c: number) => c >= 0xac00 && c <= 0xd7a3;
const LV = (c: number) => SYLLABLE(c) && (c - 0xac00) % 28 === 0;
const LVT = (c: number) => SYLLABLE(c) && (c - 0xac00) % 28 !== 0;

/** A regional indicator (half a flag) written as a surrogate pair starting at `i`. */
const isRegionalAt = (t: string, i: number) =>
  t.charCodeAt(i) === 0xd83c && t.charCodeAt(i + 1) >= 0xdde6 && t.charCodeAt(i + 1) <= 0xddff;

/**
 * True when `text` may be cut before index `i` (0 < i < length) without splitting a cluster or a
 * surrogate pair. Looks back at most over the run of flags before `i`.
 */
export function isClusterBoundary(text: string, i: number): boolean {
  if (i <= 0 || i >= text.length) return true;
  const a = text.charCodeAt(i - 1);
  const b = text.charCodeAt(i);
  if (isHigh(a) && isLow(b)) return false; // inside one code point
  if (a === 0x0d && b === 0x0a) return false; // CR LF
  if (isControl(a) || isControl(b)) return true;
  if (EXTEND[b]) return false; // marks, ZWJ, variation selectors join what precedes
  if (a === ZWJ) return false; // an emoji ZWJ sequence goes on
  // A virama followed by a consonant of its script: one conjunct.
  if (LINKERS.has(a) && (b & 0xff80) === (a & 0xff80) && letter.test(text[i])) return false;
  if (L(a) && (L(b) || V(b) || SYLLABLE(b))) return false;
  if ((LV(a) || V(a)) && (V(b) || T(b))) return false;
  if ((LVT(a) || T(a)) && T(b)) return false;
  // Skin tones (U+1F3FB–1F3FF) and tag characters (U+E0020–E007F, subdivision flags) extend too.
  if (b === 0xd83c && text.charCodeAt(i + 1) >= 0xdffb && text.charCodeAt(i + 1) <= 0xdfff) return false;
  if (b === 0xdb40 && text.charCodeAt(i + 1) >= 0xdc20 && text.charCodeAt(i + 1) <= 0xdc7f) return false;
  // Flags: regional indicators pair up from the start of their run.
  if (isRegionalAt(text, i) && i >= 2 && isRegionalAt(text, i - 2)) {
    let run = 0;
    for (let j = i - 2; j >= 0 && isRegionalAt(text, j); j -= 2) run++;
    return run % 2 === 0;
  }
  return true;
}

/**
 * The last cut at or before `end` and after `start`, or `end` moved off a surrogate pair when the
 * cluster is longer than the whole span (a cut inside a cluster beats an endless part).
 */
export function lastBoundary(text: string, start: number, end: number): number {
  for (let i = end; i > start; i--) if (isClusterBoundary(text, i)) return i;
  return isHigh(text.charCodeAt(end - 1)) ? end - 1 : end;
}

/** The end of the cluster that starts at `i`. */
export function clusterEnd(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && !isClusterBoundary(text, j)) j++;
  return j;
}
