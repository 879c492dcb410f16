// What the simulator's two sides (the SMSC, simulator-smsc.ts; the HTTP provider and control API,
// simulator-http.ts) share of the carrier simulator: one scenario, one set of carrier windows and
// counters, one journal, one timer set. CarrierSimulator implements it; the sides see only this, so
// neither imports the class that composes them.
import type { CarrierConfig } from '../modules/carriers/carriers.config';
import type { ReceiptOutcome } from './receipt-text';
import type { Scenario, ScenarioRule } from './scenario';

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

export type Admission =
  { ok: true; carrier: CarrierConfig } | { ok: false; reason: 'no_carrier' | 'throttled' };

/** The counters the sides add to; the rest of SimulatorStats is derived when stats are read. */
export type SimulatorCounters = Omit<
  SimulatorStats,
  'carriers' | 'binds' | 'receipts_pending' | 'deliveries_waiting' | 'event_loop'
>;

export interface JournalPage {
  enabled: boolean;
  total: number;
  from: number;
}

export interface SimulatorHost {
  readonly counters: SimulatorCounters;
  readonly currentScenario: Scenario;
  /** Twilio-style account SID → auth token. */
  readonly twilioAccounts: Record<string, string>;
  /** Epoch ms until which binds are refused (POST /scenario refuse_binds_seconds). */
  readonly refuseBindsUntil: number;
  /** This run's prefix of carrier ids, so two runs never hand out the same id. */
  readonly idPrefix: string;
  /** How many submit ids were handed out (since the start or restart_ids). */
  readonly issuedIds: number;
  log(msg: string, fields?: Record<string, unknown>): void;
  rule(to: string): ScenarioRule | undefined;
  /** One admission rule for both sides: a known carrier with room in its window for `segments`. */
  admit(to: string, segments: number, now?: number, parleyMessageId?: string): Admission;
  newMessageId(): string;
  noteDuplicate(key: string | undefined): void;
  record(m: SimulatedMessage): void;
  later(ms: number, fn: () => void): void;
  // The control API.
  stats(): SimulatorStats;
  resetStats(): void;
  applyScenario(body: Record<string, unknown>): Scenario;
  messages(to?: string): SimulatedMessage[];
  journal(from?: number, limit?: number): JournalPage & { messages: SimulatedMessage[] };
  offerJournal(from?: number, limit?: number): JournalPage & { offers: SimulatedOffer[] };
  sendMo(systemId: string, m: { from: string; to: string; text: string; id?: string }): string;
}
