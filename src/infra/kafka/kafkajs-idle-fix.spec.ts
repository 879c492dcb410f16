import { afterEach, describe, expect, it, vi } from 'vitest';
import { applyKafkajsIdleFix, loadRequestQueue } from './kafkajs-idle-fix';

const logger = { debug() {}, info() {}, warn() {}, error() {} };

// kafkajs' own RequestQueue, as its broker connections build it.
function queue(maxInFlightRequests: number | null = null) {
  const RequestQueue = loadRequestQueue() as unknown as new (o: object) => any;
  return new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'spec',
    broker: 'localhost:9092',
    logger,
  });
}

function request(correlationId: number, sent: number[]) {
  return {
    entry: { correlationId, apiKey: 1, apiName: 'Fetch', apiVersion: 11, resolve() {}, reject() {} },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  };
}

describe('kafkajs idle fix', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps no timer running on a connection with nothing queued', () => {
    vi.useFakeTimers();
    applyKafkajsIdleFix();
    const q = queue();
    const sent: number[] = [];
    q.push(request(1, sent));
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    // kafkajs 2.2.4 re-armed a 1 ms timeout here forever (1,600 wake-ups a second per process).
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(vi.getTimerCount()).toBe(0);
    expect(sent).toEqual([1]);
  });

  it('still sends a queued request once the one in flight is answered', () => {
    vi.useFakeTimers();
    const q = queue(1);
    const sent: number[] = [];
    q.push(request(1, sent));
    q.push(request(2, sent));
    expect(sent).toEqual([1]);
    q.fulfillRequest({ correlationId: 1, payload: Buffer.alloc(0), size: 0 });
    expect(sent).toEqual([1, 2]);
  });

  it('sends what waited out a broker throttle when the throttle ends', () => {
    vi.useFakeTimers();
    const q = queue();
    const sent: number[] = [];
    q.maybeThrottle(200);
    q.push(request(1, sent));
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(150);
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([1]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
