import { describe, expect, it } from 'vitest';
import { deterministicId } from './deterministic-id';

describe('deterministicId', () => {
  it('is a version-5 UUID, stable for the same parts and different for others', () => {
    const a = deterministicId('campaign-1', 'contact-9');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(deterministicId('campaign-1', 'contact-9')).toBe(a);
    expect(deterministicId('campaign-1', 'contact-90')).not.toBe(a);
    // The separator keeps ('ab','c') and ('a','bc') apart.
    expect(deterministicId('ab', 'c')).not.toBe(deterministicId('a', 'bc'));
  });
});
