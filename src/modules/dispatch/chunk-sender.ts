// Submission: a granted chunk from its reserved time to its outcomes. Its lead (the recent latency
// of the database) before the send time, the chunk's fence (the take, under each message's
// partition epoch) and its last look at the opt-outs start together, coalesced with every other
// chunk due meanwhile, so both answers are in when its tokens are due. At the send time: what was
// not taken is not ours and is let go; what opted out is suppressed; the rest passes the
// connector's gate (priority first), the send window shared with every dispatcher process, and a
// fresh look when it waited past its last one, then is submitted. Outcomes: accepted (recorded
// `submitted` with its carrier ids), a permanent refusal (failed), a definite refusal to retry
// (back to its lane at the head of its number's queue), or no answer (stays `submitting`).
import type { Connector, SubmitOutcome } from '../carriers/connector';
import { storedReceiptKey } from '../carriers/receipt-id';
import { analyzeText } from '../encoding';
import type { ProbeResult } from '../../infra/batching/coalesced-lookup';
import type { LaneClass } from './carrier-lane';
import type { Clock } from './clock';
import type { DispatchMetrics } from './dispatch-metrics';
import type { DispatchTuning } from './dispatch.tuning';
import { moveTo } from './flight';
import type { Flight, Refusal } from './intake';
import type { WindowTake } from './shared-window.service';
import { SubmitGate } from './submit-gate';

/** STOP wins up to the submit: a flight whose last look is older than this (plus the look's lead) looks again. */
export const MAX_OPT_OUT_AGE_MS = 100;
/** Longest a chunk waits for the shared window before it gives its slot up and is reserved again. */
export const MAX_WINDOW_HOLD_MS = 200;

export const OPTED_OUT: Refusal = {
  status: 'suppressed',
  errorCode: 'opted_out',
  detail: 'recipient opted out',
};

/** A lookup coalesced with others due at the same time (infra/batching/coalesced-lookup.ts). */
export interface Probe {
  readonly leadMs: number;
  check(items: Flight[]): Promise<ProbeResult>;
}

/** What the sender asks of the dispatcher around it. */
export interface SendHost {
  /** Epoch ms until which the carrier said "throttled". */
  pausedUntil(carrierId: string): number;
  pauseCarrier(carrierId: string, until: number): void;
  /** Gives a chunk's reserved slot back: its flights are reserved again, at the front. */
  reserveAgain(flights: Flight[]): void;
  /** Back to the head of its number's queue until `at`. */
  retryAt(f: Flight, at: number): void;
  /** Finished with nothing to write (not ours, or no answer: the row stays `submitting`). */
  finish(f: Flight): void;
  /** Writes a final status, then finishes. */
  end(f: Flight, refusal: Refusal, event?: Record<string, unknown>): Promise<void>;
  submitted(f: Flight, carrierMessageIds: string[], receiptKeys: string[], at: Date): Promise<void>;
  /** Paused or canceled campaigns among these (cached), by flight id. */
  campaignStops(flights: Flight[]): Promise<Map<string, 'paused' | 'canceled'>>;
  hold(flights: Flight[], releaseAt: Date, reason: 'campaign_paused'): Promise<void>;
  deadLetter(f: Flight, reason: string): Promise<void>;
  admitWindow(takes: WindowTake[]): Promise<number>;
  windowLimit(t: { cost: number; params: { capacity: number; ratePerSecond: number } }): number;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** How soon a paused campaign's held message is looked at again. */
const PAUSED_RECHECK_MS = 3_000;

export class ChunkSender {
  private readonly gates = new Map<string, SubmitGate>();

  constructor(
    private readonly clock: Clock,
    private readonly tuning: DispatchTuning,
    private readonly metrics: DispatchMetrics,
    private readonly host: SendHost,
    /** Per class: the fence (returns the ids taken) and the last look (the ids opted out). */
    private readonly takes: Record<LaneClass, Probe>,
    private readonly looks: Record<LaneClass, Probe>,
  ) {}

  /** Connectors' gates, for the stage log. */
  gateStates(): Record<string, { inUse: number; queued: number }> {
    return Object.fromEntries([...this.gates].map(([id, g]) => [id, { inUse: g.inUse, queued: g.queued }]));
  }

  /** Submits still holding a gate slot or waiting for one. */
  get busy(): number {
    let n = 0;
    for (const g of this.gates.values()) n += g.inUse + g.queued;
    return n;
  }

  /**
   * One granted chunk, to leave at `at`. A chunk larger than its connector's window (a carrier
   * with a high cap grants hundreds at once) goes in parts of at most that window, side by side.
   * Never throws: every flight ends somewhere.
   */
  async send(chunk: Flight[], at: number): Promise<void> {
    const size = this.gateOf(chunk[0].connector).slots;
    if (chunk.length <= size) return this.sendPart(chunk, at);
    const parts: Promise<void>[] = [];
    for (let i = 0; i < chunk.length; i += size) parts.push(this.sendPart(chunk.slice(i, i + size), at));
    await Promise.all(parts);
  }

  private async sendPart(chunk: Flight[], at: number): Promise<void> {
    for (const f of chunk) {
      moveTo(f, 'scheduled');
      f.slotAt = at;
    }
    const cls: LaneClass = chunk.some((f) => f.lane === 'priority') ? 'priority' : 'bulk';
    let items = chunk;
    /** Gate slots this chunk holds before it is handed to submitChunk. */
    let held = 0;
    try {
      const lead = Math.max(this.takes[cls].leadMs, this.looks[cls].leadMs);
      const startAt = at - lead - this.clock.precise();
      if (startAt >= 1) await this.clock.sleep(startAt);
      // A campaign paused or canceled while the chunk waited for its tokens: what is not ours yet
      // is held again (or canceled) instead of fenced.
      const stops = await this.host.campaignStops(items.filter((f) => !f.taken));
      if (stops.size) items = await this.stopCampaigns(items, stops);
      if (!items.length) return;
      // The connector's gate first: a chunk is fenced only once it can leave, so what a crash cuts
      // off between the fence and the carrier is at most the connector's window, never a queue of
      // fenced chunks waiting for it.
      const gate = this.gateOf(items[0].connector);
      const slots = gate.acquire(cls, items.length);
      if (slots) await slots;
      held = items.length;
      for (const f of items) moveTo(f, 'fencing');
      const fresh = items.filter((f) => !f.taken);
      // Both answers are awaited before either failure counts: a take that committed while the
      // look failed (the database restarting between them) must be remembered, or the retry would
      // find its rows `submitting`, take them for another dispatcher's and never send them.
      const [taken, looked] = await Promise.allSettled([
        this.takes[cls].check(fresh),
        this.looks[cls].check(items.filter((f) => !f.env.optOutConfirmation)),
      ]);
      if (taken.status === 'rejected') throw taken.reason;
      for (const f of fresh) if (taken.value.found.has(f.id)) f.taken = true;
      if (looked.status === 'rejected') throw looked.reason;
      const look = looked.value;
      const wait = at - this.clock.precise();
      if (wait >= 1) await this.clock.sleep(wait);
      const go: Flight[] = [];
      for (const f of items) {
        if (!f.taken) {
          // Past submit already, final, or its partition is another dispatcher's now.
          this.host.finish(f);
          continue;
        }
        if (look.found.has(f.id)) {
          void this.host.end(f, OPTED_OUT);
          continue;
        }
        f.checkedAt = look.at;
        go.push(f);
      }
      if (items.length > go.length) gate.release(items.length - go.length);
      held = go.length;
      if (!go.length) return;
      // The carrier said "throttled" meanwhile: the chunk is reserved again after the pause,
      // instead of leaving at its end in one burst the carrier throttles again.
      if (this.host.pausedUntil(go[0].carrierId) > this.clock.now()) {
        gate.release(held);
        held = 0;
        this.host.reserveAgain(go);
        return;
      }
      for (const f of go) moveTo(f, 'sending');
      held = 0;
      await this.submitChunk(go, cls, gate);
    } catch (err) {
      // The database away for the fence or the look: what is still ours goes back (order kept)
      // and is tried again; taken ones stay taken.
      this.host.warn({ err, carrier: chunk[0].carrierId }, 'chunk failed before submit; retrying');
      if (held) this.gateOf(chunk[0].connector).release(held);
      const back = this.clock.now() + this.tuning.retryBaseMs;
      for (const f of items) if (f.state !== 'done' && f.state !== 'backoff') this.host.retryAt(f, back);
    }
  }

  private async stopCampaigns(items: Flight[], stops: Map<string, 'paused' | 'canceled'>): Promise<Flight[]> {
    const held = items.filter((f) => stops.get(f.id) === 'paused');
    if (held.length)
      await this.host.hold(held, new Date(this.clock.now() + PAUSED_RECHECK_MS), 'campaign_paused');
    for (const f of items)
      if (stops.get(f.id) === 'canceled')
        void this.host.end(f, {
          status: 'canceled',
          errorCode: 'campaign_canceled',
          detail: 'campaign canceled',
        });
    return items.filter((f) => !stops.has(f.id));
  }

  /**
   * The chunk, holding a gate slot per flight, through the shared send window, then submitted. The
   * window is checked at the moment it would leave: whatever waited (a late chunk, a busy
   * connector window) must not reach the carrier bunched with what comes next.
   */
  private async submitChunk(go: Flight[], cls: LaneClass, gate: SubmitGate): Promise<void> {
    const takes = this.windowTakes(go);
    let heldSince: number | undefined;
    for (let first = true; ; first = false) {
      if (!first) {
        const slots = gate.acquire(cls, go.length);
        if (slots) await slots;
      }
      const paused = go[0].connector.pausedUntil();
      if (paused > this.clock.now()) {
        gate.release(go.length);
        this.host.pauseCarrier(go[0].carrierId, paused);
        this.host.reserveAgain(go);
        return;
      }
      // Waited at the gate (or the window) past its last look: it looks again before it goes.
      const stale = go.filter(
        (f) =>
          !f.env.optOutConfirmation &&
          this.clock.now() - f.checkedAt > MAX_OPT_OUT_AGE_MS + this.looks[cls].leadMs,
      );
      if (stale.length) {
        const look = await this.looks[cls].check(stale).catch((err: unknown) => err);
        if (!isProbe(look)) {
          gate.release(go.length);
          this.host.warn(
            { err: look, carrier: go[0].carrierId },
            'opt-out look before submit failed; retrying',
          );
          const back = this.clock.now() + this.tuning.retryBaseMs;
          for (const f of go) this.host.retryAt(f, back);
          return;
        }
        for (const f of stale) f.checkedAt = look.at;
        const out = go.filter((f) => look.found.has(f.id));
        if (out.length) {
          gate.release(out.length);
          for (const f of out) void this.host.end(f, OPTED_OUT);
          go = go.filter((f) => !look.found.has(f.id));
          if (!go.length) return;
        }
      }
      const wait = await this.host.admitWindow(
        takes.filter((t) => go.some((f) => t.of.has(f))).map((t) => t.take),
      );
      if (wait <= 0) break;
      gate.release(go.length);
      this.metrics.throttled.inc({
        carrier: go[0].carrierId,
        connector: go[0].connector.id,
        source: 'window',
      });
      const now = this.clock.now();
      heldSince ??= now;
      if (now + wait - heldSince > MAX_WINDOW_HOLD_MS) {
        // Behind the window for long (late sends queue here): the chunk gives its slot up and is
        // reserved again, so a stall costs its own length once instead of delaying every send.
        this.host.reserveAgain(go);
        return;
      }
      await this.clock.sleep(wait);
    }
    await Promise.all(go.map((f) => this.submit(f, gate)));
  }

  /** The chunk's cost per bucket (all its flights pay the same buckets: one spender). */
  private windowTakes(go: Flight[]): { take: WindowTake; of: Set<Flight> }[] {
    const byKey = new Map<string, { take: WindowTake; of: Set<Flight> }>();
    for (const f of go)
      for (const b of f.buckets) {
        const e = byKey.get(b.key);
        if (e) {
          e.take.cost += f.segments;
          e.of.add(f);
        } else
          byKey.set(b.key, {
            take: {
              key: b.key,
              cost: f.segments,
              limit: this.host.windowLimit({ cost: f.segments, params: b.params }),
            },
            of: new Set([f]),
          });
      }
    // A limit below what one chunk carries would never admit it: a lump waits for an empty window.
    for (const e of byKey.values()) e.take.limit = Math.max(e.take.limit, e.take.cost);
    return [...byKey.values()];
  }

  private async submit(f: Flight, gate: SubmitGate): Promise<void> {
    let outcome: SubmitOutcome;
    const started = this.clock.precise();
    try {
      const text = analyzeText(f.env.body, { smartEncoding: f.env.smartEncoding ?? f.sender.smart_encoding });
      outcome = await f.connector.submit({
        messageId: f.id,
        from: f.env.from,
        senderKind: f.sender.kind,
        to: f.to,
        body: text.text,
        encoding: text.encoding,
        parts: text.parts,
        validUntil: f.env.validUntil !== undefined ? new Date(f.env.validUntil) : undefined,
      });
    } catch (err) {
      // A throw after the bytes may have left is not a definite refusal: reconcile, never resend.
      outcome = { kind: 'unknown', reason: err instanceof Error ? err.message : String(err) };
    } finally {
      gate.release();
    }
    this.metrics.answered(f.carrierId, f.connector.id, (this.clock.precise() - started) / 1000);
    await this.onOutcome(f, outcome).catch((err: unknown) =>
      this.host.warn({ err, id: f.id }, 'recording a submit outcome failed'),
    );
  }

  private async onOutcome(f: Flight, o: SubmitOutcome): Promise<void> {
    const labels = { carrier: f.carrierId, connector: f.connector.id };
    switch (o.kind) {
      case 'accepted': {
        const at = new Date(this.clock.now());
        this.metrics.accepted(
          {
            carrier: f.carrierId,
            connector: f.connector.id,
            senderKind: f.sender.kind,
            type: f.env.type,
            encoding: f.env.encoding,
          },
          o.carrierMessageIds.length || f.segments,
          Math.max(0, at.getTime() - f.env.acceptedAt) / 1000,
        );
        const keys = o.carrierMessageIds.map((id) => storedReceiptKey(f.connector.receiptIdFormat, id));
        await this.host.submitted(f, o.carrierMessageIds, keys, at);
        return;
      }
      case 'failed':
        await this.host.end(f, { status: 'failed', errorCode: o.code, detail: o.reason });
        return;
      case 'unknown':
        // Stays `submitting` (the fence is durable): a receipt or the reconciler decides.
        this.host.warn({ id: f.id, carrier: f.carrierId, reason: o.reason }, 'submit outcome unknown');
        this.host.finish(f);
        return;
      case 'retry': {
        f.attempts++;
        this.metrics.retries.inc({ ...labels, code: o.code });
        if (/throttl/i.test(o.code)) {
          this.metrics.throttled.inc({ ...labels, source: 'carrier' });
          this.host.pauseCarrier(f.carrierId, this.clock.now() + (o.backoffMs ?? this.tuning.retryBaseMs));
        }
        if (f.attempts >= this.tuning.maxAttempts) {
          await this.host.deadLetter(
            f,
            `retries exhausted after ${f.attempts} attempts: ${o.code} ${o.reason}`,
          );
          await this.host.end(
            f,
            { status: 'failed', errorCode: o.code, detail: `retries exhausted (${f.attempts}): ${o.reason}` },
            { attempts: f.attempts },
          );
          return;
        }
        const backoff = Math.min(
          this.tuning.retryMaxMs,
          Math.max(o.backoffMs ?? 0, this.tuning.retryBaseMs * 2 ** (f.attempts - 1)),
        );
        // Stays at the head of its number's queue: nothing later to this number overtakes it.
        this.host.retryAt(f, this.clock.now() + backoff * (0.8 + Math.random() * 0.4));
        return;
      }
    }
  }

  /** A connector's gate: as many submits at once as its window holds. */
  private gateOf(c: Connector): SubmitGate {
    let g = this.gates.get(c.id);
    if (!g) this.gates.set(c.id, (g = new SubmitGate(Math.max(1, c.state().window))));
    return g;
  }
}

const isProbe = (x: unknown): x is ProbeResult =>
  !!x && typeof x === 'object' && 'found' in x && (x as ProbeResult).found instanceof Set;
