import { describe, expect, it } from 'vitest';
import { analyzeText } from './segments';
import { clusterEnd, isClusterBoundary, lastBoundary } from './grapheme';

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const intlBoundaries = (t: string) => new Set([...segmenter.segment(t)].map((s) => s.index).concat(t.length));

const SAMPLES = [
  'Hello wörld',
  'cafe\u0301 naïve',
  '😀👍🏽👨‍👩‍👧🇺🇸🇫🇷🇩🇪',
  '🏴󠁧󠁢󠁳󠁣󠁴󠁿 flag of Scotland',
  '❤️‍🔥 and 🧑🏿‍🚀',
  'line\r\nbreak',
  '한국어 \u1100\u1161\u11a8 jamo',
  'नमस्ते दुनिया',
  '🇺🇸🇺🇸🇺🇸x🇺',
];

describe('isClusterBoundary', () => {
  it('never cuts inside a cluster the platform segmenter sees (flags, ZWJ families, skin tones, jamo, CR LF)', () => {
    for (const t of SAMPLES) {
      const intl = intlBoundaries(t);
      for (let i = 1; i < t.length; i++)
        if (isClusterBoundary(t, i)) expect(intl.has(i), `${t} at ${i}`).toBe(true);
    }
  });

  it('cuts where the platform does in plain and accented text and between emoji', () => {
    for (const t of ['Hello wörld', '😀😀😀', '🇺🇸🇫🇷']) {
      const intl = intlBoundaries(t);
      for (const i of intl)
        if (i > 0 && i < t.length) expect(isClusterBoundary(t, i), `${t} at ${i}`).toBe(true);
    }
  });

  it('pairs regional indicators from the start of their run', () => {
    const t = '🇺🇸🇫🇷🇩';
    expect(isClusterBoundary(t, 4)).toBe(true);
    expect(isClusterBoundary(t, 2)).toBe(false);
    expect(isClusterBoundary(t, 6)).toBe(false);
    expect(isClusterBoundary(t, 8)).toBe(true);
  });

  it('finds the last cut before a part end, and moves off a surrogate pair when a cluster is longer than the part', () => {
    expect(lastBoundary('ab👨‍👩‍👧', 0, 5)).toBe(2);
    const family = '👨‍👩‍👧'.repeat(1);
    expect(lastBoundary(`${family}${family}`, 0, 3)).toBe(3);
    expect(clusterEnd('a👍🏽b', 1)).toBe(5);
  });

  it('stays linear: 256,000 code units of emoji split in well under a second', () => {
    const t = '😀👍🏽🇺🇸a'.repeat(32_000);
    const t0 = performance.now();
    const a = analyzeText(t);
    expect(a.parts.join('')).toBe(t);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
