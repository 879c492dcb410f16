import { describe, expect, it } from 'vitest';
import { combineStates } from './connector-state.service';

describe('combineStates', () => {
  it('sums what each dispatcher process reports and is throttled if any one is', () => {
    const s = (bindsUp: number, inFlight: number, throttled = false) => ({
      id: 'smpp',
      kind: 'smpp' as const,
      bindsUp,
      bindsConfigured: 2,
      inFlight,
      window: 100,
      throttled,
    });
    expect(combineStates({ id: 'smpp', kind: 'smpp' }, [s(2, 10), s(1, 5, true)])).toEqual({
      id: 'smpp',
      kind: 'smpp',
      up: true,
      binds_up: 3,
      binds_configured: 4,
      in_flight: 15,
      window: 200,
      throttled: true,
      processes: 2,
    });
    expect(combineStates({ id: 'smpp', kind: 'smpp' }, [s(0, 0)]).up).toBe(false);
  });
});
