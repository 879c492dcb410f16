import { describe, expect, it } from 'vitest';
import type { Connector, SubmitOutcome, SubmitRequest } from '../carriers/connector';
import { ChunkSender, MAX_WINDOW_HOLD_MS, Probe, SendHost } from './chunk-sender';
import { ManualClock } from './clock';
import { DispatchMetrics } from './dispatch-metrics';
import { DEFAULT_DISPATCH_TUNING } from './dispatch.tuning';
import { LaneLoad, moveTo } from './flight';
import type { Flight } from './intake';
import { SegmentRatePolicy } from './rate.policy';
import { DEFAULT_RATE_TUNING } from '../rates/token-bucket';
import { MetricsService } from '../../infra/metrics/metrics.service';

const policy = new SegmentRatePolicy(DEFAULT_RATE_TUNING);

function connector(
  answer: (r: SubmitRequest) => SubmitOutcome,
  paused = () => 0,
): Connector & { sent: string[] } {
  const sent: string[] = [];
  return {
    id: 'smpp',
    kind: 'smpp',
    receiptIdFormat: 'as_is',
    sent,
    start: async () => undefined,
    stop: async () => undefined,
    submit: async (r) => {
      sent.push(r.messageId);
      return answer(r);
    },
    onReceipt: () => undefined,
    onInbound: () => undefined,
    state: () => ({
      id: 'smpp',
      kind: 'smpp',
      bindsUp: 1,
      bindsConfigured: 1,
      inFlight: 0,
      window: 10,
      throttled: false,
    }),
    pausedUntil: paused,
  };
}

let n = 0;
function flight(c: Connector, over: Partial<Flight['env']> = {}): Flight {
  const carrier = { id: 'alpha', prefixes: ['+1'], segments_per_second: 100 };
  const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  const f: Flight = {
    id,
    to: `+1415555${String(1000 + n)}`,
    lane: 'bulk',
    segments: 1,
    state: 'queued',
    taken: false,
    load: new LaneLoad(),
    carrierId: carrier.id,
    buckets: policy.bucketsOf({ carrier, segments: 1 }),
    spenderWeight: 1,
    env: {
      id,
      workspaceId: 'w',
      to: `+1415555${String(1000 + n)}`,
      from: '+14155550100',
      body: 'hello',
      encoding: 'GSM-7',
      segments: 1,
      type: 'transactional',
      acceptedAt: 0,
      ...over,
    },
    carrier,
    sender: {
      address: '+14155550100',
      kind: 'long_code',
      segments_per_second: 100,
      connector: 'smpp',
      workspaces: [],
      smart_encoding: false,
    },
    connector: c,
    refs: [],
    attempts: 0,
    checkedAt: 0,
  };
  moveTo(f, 'picked');
  moveTo(f, 'reserving');
  return f;
}

/** A probe answering `found` after `ms` of the manual clock. */
function probe(
  clock: ManualClock,
  found: (items: Flight[]) => string[],
  ms = 2,
): Probe & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    leadMs: ms + 1,
    asked,
    async check(items) {
      asked.push(items.map((f) => f.id));
      const at = clock.now();
      await clock.sleep(ms);
      return { found: new Set(found(items)), at };
    },
  };
}

function setup(
  opts: {
    taken?: (f: Flight[]) => string[];
    optedOut?: (f: Flight[]) => string[];
    window?: () => number;
  } = {},
) {
  const clock = new ManualClock();
  const log: string[] = [];
  const host: SendHost = {
    pausedUntil: () => 0,
    pauseCarrier: (c, until) => void log.push(`pause ${c} until +${until - clock.now()}`),
    reserveAgain: (fs) => {
      for (const f of fs) moveTo(f, 'reserving');
      log.push(`again ${fs.map((f) => f.id.slice(-2)).join(',')}`);
    },
    retryAt: (f, at) => {
      moveTo(f, 'backoff');
      log.push(`retry ${f.id.slice(-2)} +${at - clock.now()}`);
    },
    finish: (f) => {
      moveTo(f, 'done');
      log.push(`finish ${f.id.slice(-2)}`);
    },
    end: async (f, r) => {
      moveTo(f, 'done');
      log.push(`end ${f.id.slice(-2)} ${r.status} ${r.errorCode ?? ''}`.trim());
    },
    submitted: async (f, ids) => {
      moveTo(f, 'done');
      log.push(`submitted ${f.id.slice(-2)} ${ids.join(',')}`);
    },
    campaignStops: async () => new Map(),
    hold: async () => undefined,
    deadLetter: async (f, reason) => void log.push(`dlq ${f.id.slice(-2)} ${reason}`),
    admitWindow: async () => (opts.window ? opts.window() : 0),
    windowLimit: () => 100,
    warn: (_f, msg) => void log.push(`warn ${msg}`),
  };
  const takes = probe(clock, opts.taken ?? ((fs) => fs.map((f) => f.id)));
  const looks = probe(clock, opts.optedOut ?? (() => []));
  const metrics = new DispatchMetrics(new MetricsService());
  const sender = new ChunkSender(
    clock,
    DEFAULT_DISPATCH_TUNING,
    metrics,
    host,
    { priority: takes, bulk: takes },
    {
      priority: looks,
      bulk: looks,
    },
  );
  return { clock, log, sender, takes, looks };
}

const sorted = (xs: string[]) => [...xs].sort();

describe('ChunkSender', () => {
  it('fences and looks a lead before the send time, then submits at it; only what it took', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const [a, b] = [flight(c), flight(c)];
    const { clock, log, sender, takes } = setup({ taken: () => [a.id] });
    const at = clock.precise() + 100;
    const done = sender.send([a, b], at);
    await clock.advance(90);
    expect(takes.asked).toEqual([]);
    await clock.advance(20);
    await done;
    expect(takes.asked).toEqual([[a.id, b.id]]);
    expect(c.sent).toEqual([a.id]);
    expect(sorted(log)).toEqual(sorted([`finish ${b.id.slice(-2)}`, `submitted ${a.id.slice(-2)} x`]));
    expect(a.taken).toBe(true);
  });

  it('remembers a take that committed while the look failed, and sends it on the retry', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const a = flight(c);
    // The fence finds the row once only (a second take sees it `submitting`); the look fails once.
    let takes = 0;
    let looks = 0;
    const { clock, log, sender } = setup({ taken: (fs) => (takes++ === 0 ? fs.map((f) => f.id) : []) });
    const failingLook = sender as unknown as { looks: Record<string, Probe> };
    const real = failingLook.looks.bulk;
    failingLook.looks.bulk = {
      leadMs: real.leadMs,
      check: async (items) => {
        if (looks++ === 0) throw new Error('connection terminated');
        return real.check(items);
      },
    };
    const first = sender.send([a], clock.precise());
    await clock.advance(10);
    await first;
    expect(a.taken).toBe(true);
    expect(log).toContain(`retry ${a.id.slice(-2)} +${DEFAULT_DISPATCH_TUNING.retryBaseMs}`);
    for (const st of ['picked', 'reserving'] as const) moveTo(a, st);
    const second = sender.send([a], clock.precise());
    await clock.advance(10);
    await second;
    expect(c.sent).toEqual([a.id]);
    expect(log).toContain(`submitted ${a.id.slice(-2)} x`);
  });

  it('sends a chunk larger than the connector window in parts, never waiting on itself', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const chunk = Array.from({ length: 25 }, () => flight(c));
    const { clock, sender } = setup();
    const done = sender.send(chunk, clock.precise());
    await clock.advance(100);
    await done;
    expect(sorted(c.sent)).toEqual(sorted(chunk.map((f) => f.id)));
  });

  it('suppresses what opted out at the last look, and never sends it', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const [a, b] = [flight(c), flight(c)];
    const { clock, log, sender } = setup({ optedOut: () => [b.id] });
    const done = sender.send([a, b], clock.precise());
    await clock.advance(50);
    await done;
    expect(c.sent).toEqual([a.id]);
    expect(log).toContain(`end ${b.id.slice(-2)} suppressed opted_out`);
  });

  it('sends the opt-out confirmation without a look', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const conf = flight(c, { optOutConfirmation: true });
    const { clock, sender, looks } = setup({ optedOut: (fs) => fs.map((f) => f.id) });
    const done = sender.send([conf], clock.precise());
    await clock.advance(50);
    await done;
    expect(c.sent).toEqual([conf.id]);
    expect(looks.asked.flat()).not.toContain(conf.id);
  });

  it('waits at the shared window, and gives the slot back once held too long', async () => {
    const c = connector(() => ({ kind: 'accepted', carrierMessageIds: ['x'] }));
    const a = flight(c);
    let asks = 0;
    const { clock, log, sender } = setup({ window: () => (++asks < 3 ? 60 : 0) });
    const done = sender.send([a], clock.precise());
    await clock.advance(500);
    await done;
    expect(asks).toBe(3);
    expect(c.sent).toEqual([a.id]);
    const b = flight(c);
    const held = setup({ window: () => MAX_WINDOW_HOLD_MS });
    const d2 = held.sender.send([b], held.clock.precise());
    await held.clock.advance(2_000);
    await d2;
    expect(c.sent).toEqual([a.id]);
    expect(held.log).toContain(`again ${b.id.slice(-2)}`);
    expect(log.filter((l) => l.startsWith('again'))).toEqual([]);
  });

  it('retries a definite refusal with backoff and pauses a throttling carrier; fails a permanent one', async () => {
    const c = connector((r) =>
      r.body === 'throttle'
        ? { kind: 'retry', code: 'ESME_RTHROTTLED', reason: 'throttled', backoffMs: 500 }
        : { kind: 'failed', code: 'ESME_RINVDSTADR', reason: 'bad number' },
    );
    const [t, p] = [flight(c, { body: 'throttle' }), flight(c, { body: 'fail' })];
    const { clock, log, sender } = setup();
    const done = sender.send([t, p], clock.precise());
    await clock.advance(50);
    await done;
    expect(log.find((l) => l.startsWith('pause'))).toBe('pause alpha until +500');
    expect(log.find((l) => l.startsWith('retry'))).toMatch(new RegExp(`^retry ${t.id.slice(-2)} \\+\\d+`));
    expect(log).toContain(`end ${p.id.slice(-2)} failed ESME_RINVDSTADR`);
    expect(t.state).toBe('backoff');
    expect(t.attempts).toBe(1);
  });

  it('dead-letters and fails a message refused on every attempt', async () => {
    const c = connector(() => ({ kind: 'retry', code: 'ESME_RMSGQFUL', reason: 'queue full' }));
    const f = flight(c);
    f.attempts = DEFAULT_DISPATCH_TUNING.maxAttempts - 1;
    const { clock, log, sender } = setup();
    const done = sender.send([f], clock.precise());
    await clock.advance(50);
    await done;
    expect(log.some((l) => l.startsWith(`dlq ${f.id.slice(-2)} retries exhausted`))).toBe(true);
    expect(log).toContain(`end ${f.id.slice(-2)} failed ESME_RMSGQFUL`);
  });

  it('leaves a message with no answer submitting: finished, never retried', async () => {
    const c = connector(() => ({ kind: 'unknown', reason: 'no submit_sm_resp' }));
    const f = flight(c);
    const { clock, log, sender } = setup();
    const done = sender.send([f], clock.precise());
    await clock.advance(50);
    await done;
    expect(log).toContain(`finish ${f.id.slice(-2)}`);
    expect(f.taken).toBe(true);
  });

  it('gives the chunk back when its connector is paused, instead of sending into the pause', async () => {
    const c = connector(
      () => ({ kind: 'accepted', carrierMessageIds: ['x'] }),
      () => Date.now() + 10_000_000_000,
    );
    const f = flight(c);
    const { clock, log, sender } = setup();
    const done = sender.send([f], clock.precise());
    await clock.advance(50);
    await done;
    expect(c.sent).toEqual([]);
    expect(log.some((l) => l.startsWith('pause alpha'))).toBe(true);
    expect(log).toContain(`again ${f.id.slice(-2)}`);
  });
});
