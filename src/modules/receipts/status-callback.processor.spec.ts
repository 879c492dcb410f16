import { describe, expect, it } from 'vitest';
import { callbackBackoff } from './status-callback.processor';

describe('callbackBackoff', () => {
  it('doubles from a second and stops growing at an hour', () => {
    expect(callbackBackoff(1)).toBeGreaterThanOrEqual(900);
    expect(callbackBackoff(1)).toBeLessThanOrEqual(1100);
    expect(callbackBackoff(4)).toBeGreaterThanOrEqual(7200);
    expect(callbackBackoff(30)).toBeLessThanOrEqual(3_960_000);
    expect(callbackBackoff(30)).toBeGreaterThanOrEqual(3_240_000);
  });
});
