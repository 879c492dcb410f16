// The carrier simulator: an SMPP SMSC and a Twilio-style HTTP provider in one process, standing in
// for real carriers in the demo, the tests and the load tests. It owns per-carrier caps (enforced
// over a sliding one-second window on both sides together), answer latency, receipt outcomes and
// delays, scripted customer replies, chaos at runtime (POST /scenario), and the counters that
// prove Parley's invariants (GET /stats: peaks per carrier, throttled, duplicates).
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { PDU, Server, Session } from 'smpp';
import { analyzeText } from '../modules/encoding';
import {
  CarrierConfig,
  CarriersFile,
  SIMULATOR_HTTP_PORT,
  SIMULATOR_SMPP_PORT,
  loadCarriersFile,
} from '../modules/carriers/carriers.config';
import { coalesceWrites, smpp } from '../modules/carriers/smpp/smpp-lib';
import {
  ConcatAssembler,
  ConcatInfo,
  DATA_CODING,
  ESM_CLASS_DELIVERY_RECEIPT,
  ESM_CLASS_UDHI,
  ESME_ROK,
  ESME_RTHROTTLED,
  concatInfoOf,
  concatUdh,
  encodeText,
  fromSmppAddress,
  messageOf,
  statusCode,
  toSmppAddress,
} from '../modules/carriers/smpp/smpp-pdu';
import { RECEIPT_STATES, ReceiptOutcome, receiptText } from './receipt-text';
import {
  Scenario,
  ScenarioActions,
  ScenarioInput,
  inRange,
  outcomeFor,
  parseScenario,
  patchScenario,
  replyFor,
  ruleFor,
  scenarioActionsSchema,
  receiptIdFor,
  unit,
} from './scenario';
import { SimulatorHttp } from './simulator-http';
import { SlidingWindow } from './sliding-window';

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

export interface CarrierStats {
  cap: number;
  segments: number;
  /** Most accepted segments in any one-second window. */
  peak: number;
  /** Most segments offered (accepted or throttled) in any one-second window. */
  peak_offered: number;
  throttled: number;
  /** Epoch ms of the first and the last accepted segment since the last reset (null: none yet). */
  first_at: number | null;
  last_at: number | null;
  /**
   * Accepted segments per second since the first one (index 0 is its second), for the first
   * ten minutes after a reset: enough to see a run's ramp and dips without growing forever.
   */
  per_second: number[];
}

/** How many seconds of `per_second` a carrier's stats keep. */
const PER_SECOND_KEPT = 600;

export interface SimulatorStats {
  /** submit_sm PDUs (one per part) plus HTTP send requests. */
  submits: number;
  accepted: number;
  throttled: number;
  errors: number;
  no_response: number;
  /** The same Parley message id (and part) accepted more than once. */
  duplicates: number;
  receipts_sent: number;
  receipts_pending: number;
  /** Receipts and replies due but held because no session of their system_id is bound. */
  deliveries_waiting: number;
  replies_sent: number;
  binds: number;
  carriers: Record<string, CarrierStats>;
  /**
   * How late the simulator's own event loop ran since the last reset (ms). Its windows count
   * submits when it reads them: a stalled loop counts those that queued meanwhile as one burst.
   */
  event_loop: { p99_ms: number; max_ms: number };
  http: {
    requests: number;
    unauthorized: number;
    callbacks_sent: number;
    callbacks_failed: number;
    inbound_sent: number;
    inbound_failed: number;
  };
}

/** One submit as the carrier's window counted it (kept with the journal): taken or throttled. */
export interface SimulatedOffer {
  /** Epoch ms, sub-millisecond: the time the window counted. */
  at: number;
  carrier: string;
  segments: number;
  throttled: boolean;
  parleyMessageId?: string;
}

/** A whole message as the simulator reassembled it (tests read these to check coding). */
export interface SimulatedMessage {
  side: 'smpp' | 'http';
  parleyMessageId?: string;
  from: string;
  to: string;
  text: string;
  parts: number;
  dataCoding: number;
  carrierMessageIds: string[];
  /** The outcome each part's receipt reports (or will report), in part order. */
  outcomes?: ReceiptOutcome[];
  at: number;
}

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

type Admission = { ok: true; carrier: CarrierConfig } | { ok: false; reason: 'no_carrier' | 'throttled' };

interface SmscSession {
  session: Session;
  systemId?: string;
  bound: boolean;
  /** deliver_sm written and not yet answered; delivered again elsewhere if the session dies. */
  outstanding: Map<number, Record<string, unknown>>;
}

const RECENT_MESSAGES = 2_000;

export class CarrierSimulator {
  smppPort = 0;
  httpPort = 0;
  readonly host: string;
  private carriersFile: CarriersFile;
  private prefixes: [string, CarrierConfig][];
  private initialScenario: Scenario;
  private scenario: Scenario;
  private smppAccounts: Record<string, string>;
  readonly twilioAccounts: Record<string, string>;
  private server?: Server;
  private http?: SimulatorHttp;
  private sessions = new Set<SmscSession>();
  private pendingDeliveries = new Map<string, Record<string, unknown>[]>();
  private timers = new Set<NodeJS.Timeout>();
  private windows = new Map<
    string,
    { accepted: SlidingWindow; offered: SlidingWindow; stats: CarrierStats }
  >();
  private seen = new Set<string>();
  private assembler = new ConcatAssembler();
  private partials = new Map<string, { ids: string[]; outcomes: ReceiptOutcome[]; parts: number }>();
  private recent: SimulatedMessage[] = [];
  private kept: SimulatedMessage[] = [];
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private offers: SimulatedOffer[] = [];
  private idCounter = 0;
  private moReference = 0;
  private moCounter = 0;
  private readonly idPrefix = randomBytes(3).toString('hex');
  throttleAllUntil = 0;
  refuseBindsUntil = 0;
  counters!: Omit<
    SimulatorStats,
    'carriers' | 'binds' | 'receipts_pending' | 'deliveries_waiting' | 'event_loop'
  >;
  private receiptsPending = 0;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;

  constructor(private readonly opts: CarrierSimulatorOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.carriersFile = opts.carriers ?? loadCarriersFile(opts.carriersFile);
    this.prefixes = this.carriersFile.carriers
      .flatMap((c) => c.prefixes.map((p) => [p, c] as [string, CarrierConfig]))
      .sort((a, b) => b[0].length - a[0].length);
    this.initialScenario = parseScenario(opts.scenario);
    this.scenario = this.initialScenario;
    this.smppAccounts =
      opts.smppAccounts ??
      Object.fromEntries(
        this.carriersFile.connectors.flatMap((c) => (c.kind === 'smpp' ? [[c.system_id, c.password]] : [])),
      );
    this.twilioAccounts =
      opts.twilioAccounts ??
      Object.fromEntries(
        this.carriersFile.connectors.flatMap((c) =>
          c.kind === 'twilio' ? [[c.account_sid, process.env[c.auth_token_env] || 'dev-auth-token']] : [],
        ),
      );
    this.log = opts.log ?? (() => undefined);
    this.resetStats();
  }

  async start(): Promise<void> {
    this.loopDelay.enable();
    this.server = smpp.createServer((session) => this.onSession(session));
    await listen(this.server, this.opts.smppPort ?? SIMULATOR_SMPP_PORT, this.host);
    this.smppPort = (this.server.address() as AddressInfo).port;
    this.http = new SimulatorHttp(this);
    this.httpPort = await this.http.listen(this.opts.httpPort ?? SIMULATOR_HTTP_PORT, this.host);
  }

  async stop(): Promise<void> {
    this.loopDelay.disable();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sessions) s.session.destroy();
    this.sessions.clear();
    await Promise.all([
      this.server ? new Promise<void>((r) => this.server!.close(() => r())) : undefined,
      this.http?.close(),
    ]);
    this.server = undefined;
    this.http = undefined;
  }

  get httpUrl(): string {
    return `http://${this.host}:${this.httpPort}`;
  }

  get currentScenario(): Scenario {
    return this.scenario;
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
    if (actions.drop_connections) {
      for (const s of [...this.sessions]) s.session.destroy();
    }
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
      receipts_pending: this.receiptsPending,
      deliveries_waiting: [...this.pendingDeliveries.values()].reduce((n, l) => n + l.length, 0),
      binds: [...this.sessions].filter((s) => s.bound).length,
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

  // ---- SMSC ----

  private onSession(session: Session) {
    coalesceWrites(session.socket);
    const s: SmscSession = { session, bound: false, outstanding: new Map() };
    this.sessions.add(s);
    const onBind = (pdu: PDU) => {
      const systemId = String(pdu.system_id ?? '');
      let status = ESME_ROK;
      if (Date.now() < this.refuseBindsUntil) status = smpp.errors.ESME_RBINDFAIL;
      else if (!(systemId in this.smppAccounts)) status = smpp.errors.ESME_RINVSYSID;
      else if (this.smppAccounts[systemId] !== String(pdu.password ?? ''))
        status = smpp.errors.ESME_RINVPASWD;
      else if (s.bound) status = smpp.errors.ESME_RALYBND;
      session.send(pdu.response({ command_status: status, system_id: 'parley-sim' }));
      if (status !== ESME_ROK) {
        if (!s.bound) session.close();
        return;
      }
      s.bound = true;
      s.systemId = systemId;
      this.flushDeliveries(systemId);
    };
    session.on('bind_transceiver', onBind);
    session.on('bind_transmitter', onBind);
    session.on('bind_receiver', onBind);
    session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
    session.on('unbind', (pdu: PDU) => {
      s.bound = false;
      session.send(pdu.response());
      session.close();
    });
    session.on('unknown', (pdu: PDU) => session.send(pdu.response()));
    session.on('submit_sm', (pdu: PDU) => this.onSubmit(s, pdu));
    session.on('error', () => undefined);
    session.on('close', () => {
      this.sessions.delete(s);
      if (s.systemId) {
        // Receipts the ESME never acknowledged go out again on its next bind.
        for (const fields of s.outstanding.values()) this.queueDelivery(s.systemId, fields);
      }
      s.outstanding.clear();
    });
  }

  private onSubmit(s: SmscSession, pdu: PDU) {
    const session = s.session;
    this.counters.submits++;
    const scenario = this.scenario;
    const answer = (status: number, messageId?: string) => {
      const send = () =>
        session.send(
          status === ESME_ROK
            ? pdu.response({ message_id: messageId })
            : pdu.response({ command_status: status }),
        );
      this.later(inRange(scenario.latency_ms, Math.random()), send);
    };
    if (!s.bound) return answer(smpp.errors.ESME_RINVBNDSTS);
    const to = fromSmppAddress(String(pdu.destination_addr ?? ''), pdu.dest_addr_ton);
    const from = fromSmppAddress(String(pdu.source_addr ?? ''), pdu.source_addr_ton);
    const parleyId: string | undefined = pdu.parley_message_id || undefined;
    const { text, udh } = messageOf(pdu);
    const concat: ConcatInfo | undefined =
      Number(pdu.esm_class) & ESM_CLASS_UDHI
        ? concatInfoOf(udh)
        : pdu.sar_total_segments
          ? { reference: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum }
          : undefined;
    const seq = concat?.seq ?? 1;
    const key = parleyId ?? `${from}|${to}|${concat?.reference ?? this.idCounter}`;
    const rule = this.rule(to);
    if (rule?.no_response || unit(scenario.seed, 'no-response', key, seq) < scenario.no_response) {
      this.counters.no_response++;
      return;
    }
    if (!/^\+\d{6,15}$/.test(to)) {
      this.counters.errors++;
      return answer(smpp.errors.ESME_RINVDSTADR);
    }
    const refusal = rule?.submit_error ?? randomRefusal(scenario, key, seq);
    if (refusal) {
      this.counters.errors++;
      return answer(statusCode(refusal) ?? smpp.errors.ESME_RSYSERR);
    }
    const admission = this.admit(to, 1, performance.now(), parleyId);
    if (!admission.ok) {
      if (admission.reason === 'throttled') return answer(ESME_RTHROTTLED);
      this.counters.errors++;
      return answer(smpp.errors.ESME_RINVDSTADR);
    }
    const messageId = this.newMessageId();
    this.counters.accepted++;
    this.noteDuplicate(parleyId ? `${parleyId}#${seq}` : undefined);
    answer(ESME_ROK, messageId);

    const submittedAt = new Date();
    const outcome0 = outcomeFor(scenario, key, rule);
    const delay = inRange(scenario.receipt_delay_ms, unit(scenario.seed, 'receipt-delay', key, seq));
    const validUntil = pdu.validity_period instanceof Date ? pdu.validity_period.getTime() : undefined;
    const outcome: ReceiptOutcome = validUntil && Date.now() + delay > validUntil ? 'expired' : outcome0;
    this.scheduleReceipt(s.systemId!, { messageId, from, to, outcome, submittedAt, text, delay });

    // Whole-message bookkeeping: reassemble the text and decide on a customer reply once.
    let whole: string | undefined = text;
    let ids = [messageId];
    let outcomes = [outcome];
    if (concat && concat.total > 1) {
      const pkey = `${from}|${to}|${concat.reference}|${concat.total}`;
      const entry = this.partials.get(pkey) ?? {
        ids: new Array<string>(concat.total).fill(''),
        outcomes: new Array<ReceiptOutcome>(concat.total).fill('delivered'),
        parts: concat.total,
      };
      entry.ids[seq - 1] = messageId;
      entry.outcomes[seq - 1] = outcome;
      this.partials.set(pkey, entry);
      whole = this.assembler.add(`${from}|${to}`, concat, text);
      if (whole !== undefined) {
        ids = entry.ids;
        outcomes = entry.outcomes;
        this.partials.delete(pkey);
      }
    }
    if (whole === undefined) return;
    this.record({
      side: 'smpp',
      parleyMessageId: parleyId,
      from,
      to,
      text: whole,
      parts: concat?.total ?? 1,
      dataCoding: Number(pdu.data_coding ?? 0),
      carrierMessageIds: ids,
      outcomes,
      at: Date.now(),
    });
    if (outcome === 'delivered') {
      const reply = replyFor(scenario, key, rule);
      if (reply !== undefined) {
        const after = delay + inRange(scenario.replies.delay_ms, unit(scenario.seed, 'reply-delay', key));
        this.later(after, () => this.sendMo(s.systemId!, { from: to, to: from, text: reply }));
      }
    }
  }

  private scheduleReceipt(
    systemId: string,
    r: {
      messageId: string;
      from: string;
      to: string;
      outcome: ReceiptOutcome;
      submittedAt: Date;
      text: string;
      delay: number;
    },
  ) {
    this.receiptsPending++;
    // How this SMSC writes the id back is decided when it takes the message.
    const textId = receiptIdFor(this.scenario, r.messageId);
    const tlv = this.scenario.receipt_tlv;
    this.later(r.delay, () => {
      this.receiptsPending--;
      const src = toSmppAddress(r.to);
      const dst = toSmppAddress(r.from);
      const state = RECEIPT_STATES[r.outcome];
      this.queueDelivery(systemId, {
        source_addr_ton: src.ton,
        source_addr_npi: src.npi,
        source_addr: src.addr,
        dest_addr_ton: dst.ton,
        dest_addr_npi: dst.npi,
        destination_addr: dst.addr,
        esm_class: ESM_CLASS_DELIVERY_RECEIPT,
        data_coding: 0,
        short_message: encodeText(
          receiptText({
            id: textId,
            outcome: r.outcome,
            submittedAt: r.submittedAt,
            doneAt: new Date(),
            text: r.text.replace(/[^\x20-\x7e]/g, '?'),
          }),
          'GSM-7',
        ),
        ...(tlv === 'none'
          ? {}
          : {
              receipted_message_id: tlv === 'text' ? textId : r.messageId,
              message_state: state.messageState,
            }),
        __kind: 'receipt',
      });
    });
  }

  /**
   * A customer's message to one of our senders, as MO deliver_sm. Each MO carries the SMSC's own id
   * (receipted_message_id TLV, as SMSCs that number their MOs send it), the same on every part and
   * on every re-offer; pass `id` to offer an MO again as a carrier would after a lost response.
   */
  sendMo(systemId: string, m: { from: string; to: string; text: string; id?: string }): string {
    const moId = m.id ?? `mo-${this.idPrefix}-${(++this.moCounter).toString(16)}`;
    // Long replies arrive as handsets send them: concatenated parts with one reference.
    const { encoding, parts } = analyzeText(m.text);
    const src = toSmppAddress(m.from);
    const dst = toSmppAddress(m.to);
    const reference = this.moReference++ & 0xff;
    parts.forEach((part, i) => {
      const text = encodeText(part, encoding);
      this.queueDelivery(systemId, {
        source_addr_ton: src.ton,
        source_addr_npi: src.npi,
        source_addr: src.addr,
        dest_addr_ton: dst.ton,
        dest_addr_npi: dst.npi,
        destination_addr: dst.addr,
        esm_class: parts.length > 1 ? ESM_CLASS_UDHI : 0,
        data_coding: DATA_CODING[encoding],
        short_message:
          parts.length > 1 ? Buffer.concat([concatUdh(reference, parts.length, i + 1), text]) : text,
        receipted_message_id: moId,
        // Counted as one reply when its last part is taken.
        __kind: i === parts.length - 1 ? 'reply' : 'reply-part',
      });
    });
    return moId;
  }

  private queueDelivery(systemId: string, fields: Record<string, unknown>, flush = true) {
    const list = this.pendingDeliveries.get(systemId) ?? [];
    list.push(fields);
    this.pendingDeliveries.set(systemId, list);
    if (flush) this.flushDeliveries(systemId);
  }

  private flushDeliveries(systemId: string) {
    const list = this.pendingDeliveries.get(systemId);
    if (!list?.length) return;
    const targets = [...this.sessions].filter(
      (x) => x.bound && x.systemId === systemId && x.session.socket.writable,
    );
    if (!targets.length) return;
    this.pendingDeliveries.delete(systemId);
    list.forEach((fields, i) => this.deliver(targets[i % targets.length], fields));
  }

  private deliver(s: SmscSession, fields: Record<string, unknown>) {
    const { __kind, ...pduFields } = fields;
    const pdu = new smpp.PDU('deliver_sm', pduFields);
    const written = s.session.send(pdu, (resp) => {
      s.outstanding.delete(pdu.sequence_number);
      if (resp.command_status === ESME_ROK) {
        if (__kind === 'receipt') this.counters.receipts_sent++;
        else if (__kind === 'reply') this.counters.replies_sent++;
      } else {
        // The ESME could not take it now (e.g. its Kafka is away): offer it again shortly.
        this.later(1_000, () => this.queueDelivery(s.systemId!, fields));
      }
    });
    // A socket that stopped taking writes is closing; the next bind gets it.
    if (written) s.outstanding.set(pdu.sequence_number, fields);
    else this.queueDelivery(s.systemId!, fields, false);
  }
}

function randomRefusal(s: Scenario, key: string, seq: number): string | undefined {
  for (const [name, fraction] of Object.entries(s.submit_errors)) {
    if (unit(s.seed, 'error', name, key, seq) < fraction) return name;
  }
  return undefined;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
