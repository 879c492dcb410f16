// The daily segment budget of a workspace (SMS-pumping guard), the pure part: the Redis key of a
// workspace's UTC day, how long it is kept, which items of a request fit, and when to warn.

/** The share of the budget at which the workspace is warned about (log, gauge, alert). */
export const BUDGET_WARNING_RATIO = 0.8;

/** One counter per workspace and UTC day: `parley:budget:<workspace>:<yyyy-mm-dd>`. */
export function budgetKey(workspaceId: string, now: Date): string {
  return `parley:budget:${workspaceId}:${now.toISOString().slice(0, 10)}`;
}

/** Kept a day past its own day's end, so a day's total can still be read the morning after. */
export function budgetKeySeconds(now: Date): number {
  const endOfDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.ceil((endOfDay - now.getTime()) / 1000) + 24 * 3600;
}

/**
 * How many leading items fit: items are admitted in order while the running total stays within the
 * budget; the first that does not fit and every later one are refused (order per number is kept).
 * The Lua script of segment-budget.service.ts does the same next to the counter.
 */
export function admitInOrder(used: number, budget: number, segments: readonly number[]): number {
  let total = used;
  let n = 0;
  for (const s of segments) {
    if (total + s > budget) break;
    total += s;
    n++;
  }
  return n;
}

/** True when this request took the workspace across the warning share. */
export function crossedWarning(before: number, after: number, budget: number): boolean {
  return before < BUDGET_WARNING_RATIO * budget && after >= BUDGET_WARNING_RATIO * budget;
}
