import { describe, expect, it } from 'vitest';
import { MAX_TEXT_DEPTH, findUnsafeText, replaceUnsafeText, unsafeTextReason } from './text-safety';

/** `{ a: { a: … { a: leaf } } }` with `depth` objects, built without recursion. */
function nested(depth: number, leaf: unknown = 'ok'): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

describe('unsafeTextReason', () => {
  it('names each unsafe character, and accepts everything else', () => {
    expect(unsafeTextReason('a\u0000b')).toBe('contains U+0000 (NUL)');
    expect(unsafeTextReason('ab\ud800')).toBe('contains an unpaired UTF-16 surrogate at character 2');
    expect(unsafeTextReason('\udc00x')).toBe('contains an unpaired UTF-16 surrogate at character 0');
    expect(unsafeTextReason('x\udbff\ud83d\ude9a')).toBe(
      'contains an unpaired UTF-16 surrogate at character 1',
    );
    expect(unsafeTextReason('\ufffe')).toBe('contains the noncharacter U+FFFE');
    expect(unsafeTextReason('\uffff')).toBe('contains the noncharacter U+FFFF');
    for (const ok of ['', 'plain', 'Chloé ✓ 🚚', '\u0001\t\n\u007f', '\ufeff\ufffd', '\ud83d\ude9a']) {
      expect(unsafeTextReason(ok), JSON.stringify(ok)).toBeUndefined();
    }
  });

  it('reports the first offending character', () => {
    expect(unsafeTextReason('\ud800\u0000')).toMatch(/surrogate at character 0/);
    expect(unsafeTextReason('\u0000\ud800')).toBe('contains U+0000 (NUL)');
  });

  it('replaces each unsafe character with U+FFFD and leaves pairs alone', () => {
    expect(replaceUnsafeText('a\u0000b\ud800c\ufffe\ud83d\ude9a')).toBe('a\ufffdb\ufffdc\ufffd\ud83d\ude9a');
    const same = 'untouched';
    expect(replaceUnsafeText(same)).toBe(same);
  });
});

describe('findUnsafeText', () => {
  it('names the field by its path', () => {
    expect(findUnsafeText({ to: '+1', body: 'a\u0000' })).toEqual({
      path: 'body',
      reason: 'contains U+0000 (NUL)',
    });
    expect(findUnsafeText({ metadata: { order: { note: '\uffff' } } })).toEqual({
      path: 'metadata.order.note',
      reason: 'contains the noncharacter U+FFFF',
    });
    const messages = [0, 1, 2, 3].map((i) => ({ to: '+1', body: i === 3 ? 'x\ud800' : 'hi' }));
    expect(findUnsafeText({ messages })).toEqual({
      path: 'messages[3].body',
      reason: 'contains an unpaired UTF-16 surrogate at character 1',
    });
    expect(findUnsafeText(['ok', ['\u0000']])).toMatchObject({ path: '[1][0]' });
    expect(findUnsafeText({ status: '\u0000' }, 'query')).toMatchObject({ path: 'query.status' });
    expect(findUnsafeText('\u0000', 'body')).toMatchObject({ path: 'body' });
  });

  it('reports an unsafe key at its path, quoted so the path is safe text', () => {
    const found = findUnsafeText({ metadata: { 'bad\u0000key': 'v' } });
    expect(found).toEqual({ path: 'metadata["bad\\u0000key"]', reason: 'contains U+0000 (NUL)' });
    expect(unsafeTextReason(found!.path)).toBeUndefined();
    expect(findUnsafeText({ '\ud800': 1 })!.path).toBe('["\\ud800"]');
    expect(findUnsafeText({ k: { '\ufffe': 1 } })!.path).toBe('k["\\ufffe"]');
    // Keys that are not identifiers are quoted too, so a dot in a key is not a level.
    expect(findUnsafeText({ 'order.id': { 'tier-2': '\u0000' } })!.path).toBe('["order.id"]["tier-2"]');
    const long = findUnsafeText({ ['k'.repeat(10_000) + '\u0000']: 1 })!;
    expect(long.path.length).toBeLessThan(100);
    expect(long.reason).toBe('contains U+0000 (NUL)');
  });

  it('gives the first offender in document order, depth first', () => {
    expect(findUnsafeText({ a: { b: ['x', '\u0000'] }, c: '\ud800' })!.path).toBe('a.b[1]');
    expect(findUnsafeText({ a: 'ok', 'b\u0000': '\ud800' })).toEqual({
      path: '["b\\u0000"]',
      reason: 'contains U+0000 (NUL)',
    });
  });

  it('accepts safe values of every JSON kind, and leaves non-JSON objects alone', () => {
    expect(findUnsafeText({ a: [1, true, null, 'Chloé 🚚', { b: {} }], c: -0.5 })).toBeUndefined();
    expect(findUnsafeText(Object.assign(Object.create(null), { ok: 'x' }))).toBeUndefined();
    expect(findUnsafeText(Object.assign(Object.create(null), { bad: '\u0000' }))).toMatchObject({
      path: 'bad',
    });
    expect(findUnsafeText(Buffer.from([0, 0]))).toBeUndefined();
    expect(findUnsafeText(new Date(0))).toBeUndefined();
    expect(findUnsafeText(undefined)).toBeUndefined();
    expect(findUnsafeText(42)).toBeUndefined();
  });

  it(`allows ${MAX_TEXT_DEPTH} levels and refuses the next one by its path`, () => {
    expect(findUnsafeText(nested(MAX_TEXT_DEPTH))).toBeUndefined();
    expect(findUnsafeText(nested(MAX_TEXT_DEPTH, '\u0000'))!.reason).toBe('contains U+0000 (NUL)');
    const deep = findUnsafeText(nested(MAX_TEXT_DEPTH + 1));
    expect(deep).toEqual({
      path: Array(MAX_TEXT_DEPTH).fill('a').join('.'),
      reason: `nested deeper than ${MAX_TEXT_DEPTH} levels`,
    });
    expect(findUnsafeText([[[['x']]]], '', { maxDepth: 3 })).toEqual({
      path: '[0][0][0]',
      reason: 'nested deeper than 3 levels',
    });
    expect(findUnsafeText(nested(1_000, '\u0000'), '', { maxDepth: Infinity })!.reason).toMatch(/NUL/);
  });

  it('stops on a body nested 100,000 deep without exhausting the stack', () => {
    const t0 = performance.now();
    expect(findUnsafeText(nested(100_000))).toMatchObject({
      reason: `nested deeper than ${MAX_TEXT_DEPTH} levels`,
    });
    // Arrays too, and as JSON would parse them.
    const arrays = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000));
    expect(findUnsafeText({ filter: arrays })!.path).toBe(`filter${'[0]'.repeat(MAX_TEXT_DEPTH - 1)}`);
    // No depth limit: still iterative, the whole value read.
    expect(findUnsafeText(nested(100_000, '\u0000'), '', { maxDepth: Infinity })!.reason).toMatch(/NUL/);
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('reads a 1 MiB string and a wide value in linear time', () => {
    const mib = 'x'.repeat(1024 * 1024);
    const t0 = performance.now();
    expect(findUnsafeText({ body: mib })).toBeUndefined();
    expect(findUnsafeText({ body: `${mib}\u0000` })).toMatchObject({ path: 'body' });
    expect(findUnsafeText({ body: `${'é'.repeat(512 * 1024)}\ud800` })!.reason).toBe(
      `contains an unpaired UTF-16 surrogate at character ${512 * 1024}`,
    );
    expect(findUnsafeText({ body: '\ud83d\ude9a'.repeat(512 * 1024) })).toBeUndefined();
    const wide = { messages: Array.from({ length: 100_000 }, (_, i) => ({ to: `+${i}`, body: 'hello' })) };
    expect(findUnsafeText(wide)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1_000);
  });
});
