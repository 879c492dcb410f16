import { describe, expect, it } from 'vitest';
import { sendingLimits, workspaceSettingsSchema } from './workspace-settings';

describe('workspace sending limits', () => {
  const defaults = { allowed_countries: ['US', 'CA'], daily_segment_budget: null };

  it('reads allowed countries in any case and refuses unknown codes', () => {
    expect(workspaceSettingsSchema.parse({ allowed_countries: ['gb', ' US '] }).allowed_countries).toEqual([
      'GB',
      'US',
    ]);
    expect(workspaceSettingsSchema.safeParse({ allowed_countries: ['XX'] }).success).toBe(false);
    expect(workspaceSettingsSchema.safeParse({ allowed_countries: ['USA'] }).success).toBe(false);
  });

  it('takes null as an unlimited budget and refuses a budget below 1', () => {
    expect(workspaceSettingsSchema.parse({ daily_segment_budget: null }).daily_segment_budget).toBeNull();
    expect(workspaceSettingsSchema.safeParse({ daily_segment_budget: 0 }).success).toBe(false);
  });

  it("falls back to the deployment's defaults only for what the workspace did not set", () => {
    expect(sendingLimits({}, { ...defaults, daily_segment_budget: 500 })).toEqual({
      allowed_countries: ['US', 'CA'],
      daily_segment_budget: 500,
    });
    expect(
      sendingLimits(
        { allowed_countries: ['FR'], daily_segment_budget: null },
        { ...defaults, daily_segment_budget: 500 },
      ),
    ).toEqual({ allowed_countries: ['FR'], daily_segment_budget: null });
  });
});
