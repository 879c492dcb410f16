// The carrier simulator: an SMPP SMSC and a Twilio-style HTTP provider in one process, standing in
// for real carriers in the demo, the tests and the load tests. It owns per-carrier caps (enforced
// over a sliding one-second window on both sides together), answer latency, receipt outcomes and
// delays, scripted customer replies, chaos at runtime (POST /scenario), and the counters that
// prove Parley's invariants (GET /stats: peaks per carrier, throttled, duplicates). This class holds
// what both sides share (simulator-host.ts) and composes the SMSC (simulator-smsc.ts) and the HTTP
// side (simulator-http.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  CarrierConfig,
  CarriersFile,
  SIMULATOR_HTTP_PORT,
  SIMULATOR_SMPP_PORT,
  loadCarriersFile,
} from '../modules/carriers/carriers.config';
import {
  Scenario,
  ScenarioActions,
  ScenarioInput,
  parseScenario,
  patchScenario,
  ruleFor,
  scenarioActionsSchema,
} from './scenario';
import type {
  Admission,
  CarrierStats,
  SimulatedMessage,
  SimulatedOffer,
  SimulatorCounters,
  SimulatorHost,
  SimulatorStats,
} from './simulator-host';
import { SimulatorHttp } from './simulator-http';
import { SimulatedSmsc } from './simulator-smsc';
import { SlidingWindow } from './sliding-window';
import { DEV_WEBHOOK_TOKEN } from '../config/config.service';

export interface CarrierSimulatorOptions {
  host?: string;
  /** 0 picks a free port (tests); defaults 2775 and 2776. */
  smppPort?: number;
  httpPort?: number;
  carriers?: CarriersFile;
  carriersFile?: string;
  scenario?: ScenarioInput;
  /** SMPP system_id → password allowed to bind; default: the SMPP connectors of the carriers file. */
  smppAccounts?: Record<string, string>;
  /** Twilio-style account SID → auth token; default: the carriers file's twilio connectors. */
  twilioAccounts?: Record<string, string>;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /**
   * Keep every message taken (not only the last 2,000), in order, for `journal()` (GET /journal):
   * what a test or benchmark that runs the simulator in another process reads to check each send.
   */
  journal?: boolean;
}

// The shapes callers read (GET /stats, /messages, /journal) are the host's.
export type { CarrierStats, SimulatedMessage, SimulatedOffer, SimulatorStats } from './simulator-host';

/** How many seconds of `per_second` a carrier's stats keep. */
const PER_SECOND_KEPT = 600;

const emptyStats = (): CarrierStats => ({
  cap: 0,
  segments: 0,
  peak: 0,
  peak_offered: 0,
  throttled: 0,
  first_at: null,
  last_at: null,
  per_second: [],
});

const RECENT_MESSAGES = 2_000;

export class CarrierSimulator implements SimulatorHost {
  smppPort = 0;
  httpPort = 0;
  readonly host: string;
  private carriersFile: CarriersFile;
  private prefixes: [string, CarrierConfig][];
  private initialScenario: Scenario;
  private scenario: Scenario;
  readonly twilioAccounts: Record<string, string>;
  private readonly smsc: SimulatedSmsc;
  private http?: SimulatorHttp;
  private timers = new Set<NodeJS.Timeout>();
  private windows = new Map<
    string,
    { accepted: SlidingWindow; offered: SlidingWindow; stats: CarrierStats }
  >();
  private seen = new Set<string>();
  private recent: SimulatedMessage[] = [];
  private kept: SimulatedMessage[] = [];
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private offers: SimulatedOffer[] = [];
  private idCounter = 0;
  readonly idPrefix = randomBytes(3).toString('hex');
  throttleAllUntil = 0;
  refuseBindsUntil = 0;
  counters!: SimulatorCounters;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;

  constructor(private readonly opts: CarrierSimulatorOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.carriersFile = opts.carriers ?? loadCarriersFile(opts.carriersFile);
    this.prefixes = this.carriersFile.carriers
      .flatMap((c) => c.prefixes.map((p) => [p, c] as [string, CarrierConfig]))
      .sort((a, b) => b[0].length - a[0].length);
    this.initialScenario = parseScenario(opts.scenario);
    this.scenario = this.initialScenario;
    const smppAccounts =
      opts.smppAccounts ??
      Object.fromEntries(
        this.carriersFile.connectors.flatMap((c) => (c.kind === 'smpp' ? [[c.system_id, c.password]] : [])),
      );
    this.twilioAccounts =
      opts.twilioAccounts ??
      Object.fromEntries(
        this.carriersFile.connectors.flatMap((c) =>
          c.kind === 'twilio' ? [[c.account_sid, process.env[c.auth_token_env] || DEV_WEBHOOK_TOKEN]] : [],
        ),
      );
    this.log = opts.log ?? (() => undefined);
    this.smsc = new SimulatedSmsc(this, smppAccounts);
    this.resetStats();
  }

  async start(): Promise<void> {
    this.loopDelay.enable();
    this.smppPort = await this.smsc.listen(this.opts.smppPort ?? SIMULATOR_SMPP_PORT, this.host);
    this.http = new SimulatorHttp(this);
    this.httpPort = await this.http.listen(this.opts.httpPort ?? SIMULATOR_HTTP_PORT, this.host);
  }

  async stop(): Promise<void> {
    this.loopDelay.disable();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all([this.smsc.close(), this.http?.close()]);
    this.http = undefined;
  }

  get httpUrl(): string {
    return `http://${this.host}:${this.httpPort}`;
  }

  get currentScenario(): Scenario {
    return this.scenario;
  }

  get issuedIds(): number {
    return this.idCounter;
  }

  /** Applies scenario fields and runtime actions (POST /scenario). */
  applyScenario(body: Record<string, unknown>): Scenario {
    const actions: ScenarioActions = scenarioActionsSchema.parse(body);
    if (actions.reset) this.scenario = this.initialScenario;
    this.scenario = patchScenario(this.scenario, body);
    const now = Date.now();
    if (actions.throttle_all_seconds !== undefined)
      this.throttleAllUntil = now + actions.throttle_all_seconds * 1000;
    if (actions.refuse_binds_seconds !== undefined)
      this.refuseBindsUntil = now + actions.refuse_binds_seconds * 1000;
    if (actions.drop_connections) this.smsc.dropConnections();
    if (actions.restart_ids) this.idCounter = actions.restart_ids === true ? 0 : actions.restart_ids - 1;
    this.log('scenario changed', { actions });
    return this.scenario;
  }

  resetStats(): void {
    this.counters = {
      submits: 0,
      accepted: 0,
      throttled: 0,
      errors: 0,
      no_response: 0,
      duplicates: 0,
      receipts_sent: 0,
      replies_sent: 0,
      http: {
        requests: 0,
        unauthorized: 0,
        callbacks_sent: 0,
        callbacks_failed: 0,
        inbound_sent: 0,
        inbound_failed: 0,
      },
    };
    this.windows.clear();
    this.loopDelay.reset();
    this.seen.clear();
    this.recent = [];
    this.kept = [];
    this.offers = [];
  }

  stats(): SimulatorStats {
    const carriers: Record<string, CarrierStats> = {};
    for (const c of this.carriersFile.carriers) {
      const w = this.windows.get(c.id);
      carriers[c.id] = w
        ? {
            ...w.stats,
            per_second: [...w.stats.per_second],
            cap: this.capOf(c),
            peak: w.accepted.peak,
            peak_offered: w.offered.peak,
          }
        : { ...emptyStats(), cap: this.capOf(c) };
    }
    return {
      ...this.counters,
      http: { ...this.counters.http },
      receipts_pending: this.smsc.receiptsPending,
      deliveries_waiting: this.smsc.deliveriesWaiting(),
      binds: this.smsc.bindCount(),
      carriers,
      event_loop: {
        p99_ms: Math.round(this.loopDelay.percentile(99) / 1e6),
        max_ms: Math.round(this.loopDelay.max / 1e6),
      },
    };
  }

  /** Recently completed messages, newest last, optionally to one recipient. */
  messages(to?: string): SimulatedMessage[] {
    const recent = this.recent.slice(-RECENT_MESSAGES);
    return to ? recent.filter((m) => m.to === to) : recent;
  }

  /**
   * Every message taken since the last reset, in order, from index `from` (at most `limit`), when
   * the simulator keeps a journal; `total` is how many there are.
   */
  journal(
    from = 0,
    limit = 10_000,
  ): { enabled: boolean; total: number; from: number; messages: SimulatedMessage[] } {
    const { items, ...rest } = this.page(this.kept, from, limit);
    return { ...rest, messages: items };
  }

  /** Every submit the carrier windows counted since the last reset (taken or throttled), in order. */
  offerJournal(
    from = 0,
    limit = 10_000,
  ): { enabled: boolean; total: number; from: number; offers: SimulatedOffer[] } {
    const { items, ...rest } = this.page(this.offers, from, limit);
    return { ...rest, offers: items };
  }

  private page<T>(all: T[], from: number, limit: number) {
    const start = Math.max(0, Math.min(from, all.length));
    const items = all.slice(start, start + Math.max(0, limit));
    return { enabled: this.opts.journal === true, total: all.length, from: start, items };
  }

  carrierOf(e164: string): CarrierConfig | undefined {
    for (const [p, c] of this.prefixes) if (e164.startsWith(p)) return c;
    return undefined;
  }

  capOf(c: CarrierConfig): number {
    return this.scenario.caps[c.id] ?? c.segments_per_second;
  }

  /** One admission rule for both sides: a known carrier with room in its window for `segments`. */
  admit(to: string, segments: number, now = performance.now(), parleyMessageId?: string): Admission {
    const carrier = this.carrierOf(to);
    if (!carrier) return { ok: false, reason: 'no_carrier' };
    let w = this.windows.get(carrier.id);
    if (!w) {
      w = {
        accepted: new SlidingWindow(),
        offered: new SlidingWindow(),
        stats: emptyStats(),
      };
      this.windows.set(carrier.id, w);
    }
    w.offered.add(now, segments);
    const throttled =
      Date.now() < this.throttleAllUntil || !w.accepted.tryAdd(now, segments, this.capOf(carrier));
    if (this.opts.journal)
      this.offers.push({
        at: performance.timeOrigin + now,
        carrier: carrier.id,
        segments,
        throttled,
        parleyMessageId,
      });
    if (throttled) {
      w.stats.throttled++;
      this.counters.throttled++;
      return { ok: false, reason: 'throttled' };
    }
    w.stats.segments += segments;
    const at = performance.timeOrigin + now;
    w.stats.first_at ??= at;
    w.stats.last_at = at;
    const second = Math.floor((at - w.stats.first_at) / 1000);
    if (second < PER_SECOND_KEPT) {
      while (w.stats.per_second.length <= second) w.stats.per_second.push(0);
      w.stats.per_second[second] += segments;
    }
    return { ok: true, carrier };
  }

  /** Counts a Parley message id (and part) seen twice. */
  noteDuplicate(key: string | undefined): void {
    if (!key) return;
    if (this.seen.has(key)) this.counters.duplicates++;
    else this.seen.add(key);
  }

  /** The next submit_sm_resp id, in the scenario's numbering (`message_ids`). */
  newMessageId(): string {
    const n = ++this.idCounter;
    const width = this.scenario.id_width;
    switch (this.scenario.message_ids) {
      case 'decimal':
        return String(n).padStart(width, '0');
      case 'uuid':
        return randomUUID();
      case 'hex':
        return `${this.idPrefix}${n.toString(16).padStart(Math.max(10, width), '0')}`;
    }
  }

  rule(to: string) {
    return ruleFor(this.scenario.rules, to);
  }

  record(m: SimulatedMessage): void {
    if (this.opts.journal) this.kept.push(m);
    this.recent.push(m);
    // Trimmed in chunks: cutting one off the front of a long array per message costs a copy each time.
    if (this.recent.length > 2 * RECENT_MESSAGES) this.recent = this.recent.slice(-RECENT_MESSAGES);
  }

  /** Runs `fn` after `ms` (at once when 0), and forgets the timer on stop. */
  later(ms: number, fn: () => void): void {
    if (ms <= 0) return void setImmediate(fn);
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * A customer's message to one of our senders, as MO deliver_sm. Each MO carries the SMSC's own id
   * (receipted_message_id TLV, as SMSCs that number their MOs send it), the same on every part and
   * on every re-offer; pass `id` to offer an MO again as a carrier would after a lost response.
   */
  sendMo(systemId: string, m: { from: string; to: string; text: string; id?: string }): string {
    return this.smsc.sendMo(systemId, m);
  }
}
