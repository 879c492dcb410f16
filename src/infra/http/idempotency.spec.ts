import { describe, expect, it } from 'vitest';
import { canonicalJson } from './idempotency';

describe('canonicalJson', () => {
  it('is the same for equal bodies whatever their key order', () => {
    expect(canonicalJson({ b: 1, a: { y: [1, { d: 2, c: 3 }], x: null } })).toBe(
      canonicalJson({ a: { x: null, y: [1, { c: 3, d: 2 }] }, b: 1 }),
    );
  });
  it('differs when a value differs', () => {
    expect(canonicalJson({ to: '+14155550100', body: 'a' })).not.toBe(
      canonicalJson({ to: '+14155550100', body: 'b' }),
    );
  });
});
