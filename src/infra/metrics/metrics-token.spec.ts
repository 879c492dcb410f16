import { describe, expect, it } from 'vitest';
import { carriesToken } from './metrics.module';

describe('carriesToken', () => {
  it('takes exactly Bearer <token>', () => {
    const token = 'metrics-token-0123456789';
    expect(carriesToken(`Bearer ${token}`, token)).toBe(true);
    expect(carriesToken(`bearer ${token}`, token)).toBe(true);
    expect(carriesToken(token, token)).toBe(false);
    expect(carriesToken(`Bearer ${token}x`, token)).toBe(false);
    expect(carriesToken(`Bearer ${token.slice(1)}`, token)).toBe(false);
    expect(carriesToken('Bearer ', token)).toBe(false);
    expect(carriesToken(undefined, token)).toBe(false);
  });
});
