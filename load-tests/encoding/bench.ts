// Encoding benchmark (issue 19): how long the segmenter takes on 1 MiB of text, against a baseline
// pass over the same text in the same run (UTF-8 encoding it), and that the time grows linearly
// with the text (emoji runs of 16k–256k code units). Mixed text: Latin with accents, typographic
// quotes and dashes (smart encoding's look-alikes), decomposed accents, emoji with skin tones,
// ZWJ families and flags.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/encoding/bench.js [--runs 7]
import { parseArgs } from 'node:util';
import { analyzeText } from '../../src/modules/encoding';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } });
const runs = Number(values.runs);

const MIB = 1 << 20;
const sample = 'Hello wörld “quoted” — naïve café cafe\u0301 😀 👍🏽 👨‍👩‍👧 🇺🇸🇫🇷 ';
const mixed = sample.repeat(Math.ceil(MIB / sample.length)).slice(0, MIB);

function median(f: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const encoder = new TextEncoder();
const base = median(() => encoder.encode(mixed));
const plain = median(() => analyzeText(mixed));
const smart = median(() => analyzeText(mixed, { smartEncoding: true }));
const a = analyzeText(mixed, { smartEncoding: true });
console.log(
  `1 MiB mixed text (${mixed.length} code units, ${a.segments} parts, ${a.encoding}), median of ${runs}:`,
);
console.log(`  baseline TextEncoder.encode  ${base.toFixed(1)} ms`);
console.log(`  analyzeText                  ${plain.toFixed(1)} ms (${(plain / base).toFixed(1)}× baseline)`);
console.log(`  analyzeText, smart encoding  ${smart.toFixed(1)} ms (${(smart / base).toFixed(1)}× baseline)`);
const latin = 'Hello “quoted” — naive café cafe\u0301… '.repeat(Math.ceil(MIB / 40)).slice(0, MIB);
const latinSmart = median(() => analyzeText(latin, { smartEncoding: true }));
const l = analyzeText(latin, { smartEncoding: true });
console.log(
  `1 MiB typographic Latin that smart encoding makes ${l.encoding} (${l.segments} parts): ${latinSmart.toFixed(1)} ms (${(latinSmart / base).toFixed(1)}× baseline)`,
);
console.log('emoji only (linear growth expected):');
for (const n of [16_000, 64_000, 256_000]) {
  const t = '😀👍🏽🇺🇸a'.repeat(n / 8);
  console.log(`  ${String(t.length).padStart(7)} code units  ${median(() => analyzeText(t)).toFixed(1)} ms`);
}
