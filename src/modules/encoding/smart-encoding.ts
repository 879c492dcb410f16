// Smart encoding: typographic characters that word processors and phones insert (curly quotes,
// long dashes, ellipses, no-break and other unicode spaces, guillemets) replaced by their GSM-7
// look-alikes, so a message that only differs from GSM text by them costs GSM-7 segments instead
// of UCS-2 ones (a 160-character message is one part, not three).

import { GSM_SEPTETS } from './gsm-alphabet';

const REPLACEMENTS: Record<string, string> = {};
function replaceWith(chars: string, to: string) {
  for (const ch of chars) REPLACEMENTS[ch] = to;
}

// Single quotes, apostrophes and primes, including the modifier letters keyboards produce.
replaceWith('\u2018\u2019\u201a\u201b\u2032\u2035\u02b9\u02bb\u02bc\u02bd\u2039\u203a\uff07', "'");
// Double quotes, double primes and guillemets.
replaceWith('\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u02ba\u02dd\u02ee\uff02', '"');
// Hyphens, dashes and the minus sign.
replaceWith('\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d', '-');
replaceWith('\u2026', '...');
// No-break, fixed-width and ideographic spaces, and tab.
replaceWith(
  '\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000',
  ' ',
);
// Invisible characters that only break GSM-7: zero-width space, word joiner, invisible separator,
// byte-order mark, soft hyphen.
replaceWith('\u200b\u2060\u2063\ufeff\u00ad', '');
// Spacing modifier letters that stand for the ASCII ones.
replaceWith('\u02c6', '^');
replaceWith('\u02dc', '~');
replaceWith('\u2044\u2215', '/');
replaceWith('\u2024', '.');

export interface SmartReplacement {
  from: string;
  to: string;
  count: number;
}

/**
 * Code units that are GSM-7, replaced by smart encoding, or combining accents (composition may turn
 * a letter and its accent into a GSM-7 letter).
 */
const MAY_BECOME_GSM = new Uint8Array(0x10000);
for (let c = 0; c < 0x10000; c++) if (GSM_SEPTETS[c]) MAY_BECOME_GSM[c] = 1;
for (const ch of Object.keys(REPLACEMENTS)) MAY_BECOME_GSM[ch.charCodeAt(0)] = 1;
for (let c = 0x300; c <= 0x36f; c++) MAY_BECOME_GSM[c] = 1;

/**
 * False when smart encoding cannot make the text GSM-7 (an emoji, a letter of another script): one
 * pass over the text spares the replacements and composition, which only pay when the whole text
 * becomes GSM-7.
 */
export function mayBecomeGsm(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!MAY_BECOME_GSM[text.charCodeAt(i)]) return false;
  return true;
}

const CANDIDATES = new RegExp(`[${Object.keys(REPLACEMENTS).map(escapeClass).join('')}]`, 'g');

/**
 * The text with every known look-alike replaced, and what was replaced how often (in order of
 * first appearance). Text in decomposed form (e + U+0301) is composed first, since GSM-7 carries
 * "é" but not a combining accent.
 */
export function smartReplace(text: string): { text: string; replacements: SmartReplacement[] } {
  const counts = new Map<string, SmartReplacement>();
  let out = text;
  if (/[\u0300-\u036f]/.test(out)) out = composeEach(out, counts);
  out = out.replace(CANDIDATES, (ch) => {
    const to = REPLACEMENTS[ch];
    const r = counts.get(ch);
    if (r) r.count++;
    else counts.set(ch, { from: ch, to, count: 1 });
    return to;
  });
  return { text: out, replacements: [...counts.values()] };
}

/** NFC, recording each grapheme that composition changed. */
function composeEach(text: string, counts: Map<string, SmartReplacement>): string {
  // A base letter followed by combining marks; composing per match keeps the report per letter.
  return text.replace(/\P{M}\p{M}+/gu, (cluster) => {
    const nfc = cluster.normalize('NFC');
    if (nfc === cluster) return cluster;
    const r = counts.get(cluster);
    if (r) r.count++;
    else counts.set(cluster, { from: cluster, to: nfc, count: 1 });
    return nfc;
  });
}

function escapeClass(ch: string): string {
  return /[\\\]^-]/.test(ch) ? `\\${ch}` : ch === '\t' ? '\\t' : ch;
}
