// kafkajs 2.2.4 keeps a timer loop running on every broker connection for as long as it is open:
// RequestQueue.scheduleCheckPendingRequests sets a timeout even when nothing is pending, with a
// negative delay (throttledUntil is -1), so the check fires again after 1 ms, and again, forever
// (upstream issues #1556 and #1704; the fix, PR #1667, is not released). Measured on an idle
// dispatcher: 1,600 event-loop wake-ups a second and 4–6% of a core, and under load those timers
// queue with every other callback of the process.
//
// The replacement schedules a check only while requests wait in the queue, which is the only
// state the check serves: a request that cannot go at once is queued and schedules one (push), and
// every answered or timed-out request checks the queue again (fulfillRequest, timeout). Applied
// once, when this module is loaded, before any connection exists.
import { createRequire } from 'node:module';

/** kafkajs' own retry interval for queued requests (requestQueue/index.js). */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

interface RequestQueueInternals {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

type RequestQueueClass = { prototype: RequestQueueInternals };

export function loadRequestQueue(): RequestQueueClass {
  // Not part of kafkajs' typed API: the class its connections are built with.
  const req = createRequire(require.resolve('kafkajs'));
  return req('./src/network/requestQueue') as RequestQueueClass;
}

function scheduleCheckPendingRequests(this: RequestQueueInternals): void {
  if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
  const throttled = this.throttledUntil - Date.now();
  this.throttleCheckTimeoutId = setTimeout(
    () => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    },
    throttled > 0 ? throttled : CHECK_PENDING_REQUESTS_INTERVAL,
  );
}

/** Replaces kafkajs' check scheduling (applying it again changes nothing). */
export function applyKafkajsIdleFix(RequestQueue: RequestQueueClass = loadRequestQueue()): void {
  RequestQueue.prototype.scheduleCheckPendingRequests = scheduleCheckPendingRequests;
}

applyKafkajsIdleFix();
