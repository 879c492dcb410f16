// Per-stage timings of the dispatcher (claim round trip, token reservation, lateness of sends,
// connector gate, submit, status write), summed between two reads. A debug log line every few
// seconds says where a lane's time goes without a profiler. Pure.

export interface StageSummary {
  n: number;
  avgMs: number;
  maxMs: number;
}

export class StageTimings {
  private stats = new Map<string, { n: number; sum: number; max: number }>();

  add(stage: string, ms: number): void {
    const s = this.stats.get(stage);
    if (s) {
      s.n++;
      s.sum += ms;
      if (ms > s.max) s.max = ms;
    } else this.stats.set(stage, { n: 1, sum: ms, max: ms });
  }

  /** What was recorded since the last call, per stage; resets. */
  take(): Record<string, StageSummary> {
    const out: Record<string, StageSummary> = {};
    for (const [k, s] of this.stats)
      out[k] = { n: s.n, avgMs: Math.round((s.sum / s.n) * 10) / 10, maxMs: Math.round(s.max * 10) / 10 };
    this.stats.clear();
    return out;
  }
}
