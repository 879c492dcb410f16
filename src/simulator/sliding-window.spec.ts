import { describe, expect, it } from 'vitest';
import { SlidingWindow } from './sliding-window';

describe('SlidingWindow', () => {
  it('counts only the last second and admits up to the cap', () => {
    const w = new SlidingWindow(1000);
    for (let i = 0; i < 5; i++) expect(w.tryAdd(100 + i, 1, 5)).toBe(true);
    expect(w.tryAdd(500, 1, 5)).toBe(false);
    expect(w.count(1099)).toBe(5);
    // The first arrival (t=100) leaves the window at t=1100.
    expect(w.count(1100)).toBe(4);
    expect(w.tryAdd(1100, 1, 5)).toBe(true);
    expect(w.tryAdd(1100, 1, 5)).toBe(false);
  });

  it('is not a fixed window: a burst at a second’s edge cannot pass twice the cap', () => {
    const w = new SlidingWindow(1000);
    let admitted = 0;
    for (let t = 900; t < 1100; t++) if (w.tryAdd(t, 1, 10)) admitted++;
    expect(admitted).toBe(10);
    expect(w.peak).toBe(10);
  });

  it('weighs multi-segment arrivals and tracks the peak of any window', () => {
    const w = new SlidingWindow(1000);
    w.add(0, 3);
    w.add(400, 3);
    w.add(999, 3);
    expect(w.peak).toBe(9);
    w.add(1500, 1);
    expect(w.count(1500)).toBe(4);
    expect(w.peak).toBe(9);
    expect(w.tryAdd(1600, 7, 10)).toBe(false);
    expect(w.tryAdd(1600, 6, 10)).toBe(true);
    w.reset();
    expect(w.count(1600)).toBe(0);
    expect(w.peak).toBe(0);
  });

  it('keeps working over many arrivals (ring compaction)', () => {
    const w = new SlidingWindow(1000);
    for (let t = 0; t < 20_000; t++) w.add(t, 1);
    expect(w.count(19_999)).toBe(1000);
    expect(w.peak).toBe(1000);
  });
});
