import { describe, expect, it } from 'vitest';
import { PlanAccumulator } from './campaign-plan';

describe('PlanAccumulator', () => {
  const start = new Date('2026-11-26T15:00:00Z');

  it('adds up recipients, exclusions, segments, encodings and per-carrier time at the cap', () => {
    const p = new PlanAccumulator();
    for (let i = 0; i < 300; i++)
      p.add({
        segments: 1,
        encoding: 'GSM-7',
        carrierId: 'us-alpha',
        heldByQuietHours: false,
        waitSeconds: 0,
      });
    for (let i = 0; i < 100; i++)
      p.add({
        segments: 2,
        encoding: 'UCS-2',
        carrierId: 'us-beta',
        heldByQuietHours: i < 10,
        waitSeconds: i < 10 ? 3600 : 0,
      });
    p.exclude('opted_out', 5);
    p.exclude('not_opted_in', 7);
    const plan = p.finish(
      [
        { id: 'us-alpha', segmentsPerSecond: 100 },
        { id: 'us-beta', segmentsPerSecond: 50 },
      ],
      start,
    );
    expect(plan.recipients).toBe(400);
    expect(plan.excluded).toEqual({
      opted_out: 5,
      not_opted_in: 7,
      invalid: 0,
      no_route: 0,
      country_not_allowed: 0,
      prefix_blocked: 0,
      total: 12,
    });
    expect(plan.segments_total).toBe(500);
    expect(plan.encoding_mix).toEqual({ 'GSM-7': 300, 'UCS-2': 100 });
    expect(plan.segments_per_message).toEqual({ min: 1, max: 2, average: 1.25 });
    expect(plan.carriers).toEqual([
      {
        carrier: 'us-alpha',
        recipients: 300,
        segments: 300,
        cap_segments_per_second: 100,
        effective_segments_per_second: 100,
        seconds_at_cap: 3,
      },
      {
        carrier: 'us-beta',
        recipients: 100,
        segments: 200,
        cap_segments_per_second: 50,
        effective_segments_per_second: 50,
        seconds_at_cap: 4,
      },
    ]);
    expect(plan.seconds_at_cap).toBe(4);
    expect(plan.quiet_hours_held).toBe(10);
    // The last held recipient's window opens an hour after the start, after the 4 s drain.
    expect(plan.estimated_finish).toBe('2026-11-26T16:00:00.000Z');
  });

  it('applies the campaign cap across carriers', () => {
    const p = new PlanAccumulator();
    for (let i = 0; i < 100; i++)
      p.add({
        segments: 1,
        encoding: 'GSM-7',
        carrierId: i % 2 ? 'a' : 'b',
        heldByQuietHours: false,
        waitSeconds: 0,
      });
    const plan = p.finish(
      [
        { id: 'a', segmentsPerSecond: 1000 },
        { id: 'b', segmentsPerSecond: 1000 },
      ],
      start,
      10,
    );
    expect(plan.carriers.every((c) => c.effective_segments_per_second === 10)).toBe(true);
    // 100 segments at 10/s shared: 10 s, not the 5 s each carrier alone would take.
    expect(plan.seconds_at_cap).toBe(10);
    expect(plan.estimated_finish).toBe('2026-11-26T15:00:10.000Z');
  });

  it('is empty but well formed with no recipients', () => {
    const plan = new PlanAccumulator().finish([], start);
    expect(plan.recipients).toBe(0);
    expect(plan.segments_per_message).toEqual({ min: 0, max: 0, average: 0 });
    expect(plan.estimated_finish).toBe(start.toISOString());
  });
});
