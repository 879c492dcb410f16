// The SMPP 3.4 ESME connector: several bind_transceiver sessions to one SMSC, each with its window
// of outstanding submit_sm; multipart messages as UDH-concatenated parts; submit outcomes mapped to
// the connector contract (accepted / retry / failed / unknown, never a blind resend); deliver_sm
// split into delivery receipts and customer messages (MO, reassembled when concatenated).
import type { PDU } from 'smpp';
import type { ConnectorConfig } from '../carriers.config';
import type { ReceiptIdFormat } from '../receipt-id';
import type {
  Connector,
  ConnectorState,
  RawInbound,
  RawReceipt,
  SubmitOutcome,
  SubmitRequest,
} from '../connector';
import { SmppBind, SmppBindHooks } from './smpp-bind';
import { PARLEY_MESSAGE_ID_TLV } from './smpp-lib';
import type { SubmitFields } from './smpp-wire';
import {
  ConcatAssembler,
  DATA_CODING,
  ESM_CLASS_DELIVERY_RECEIPT,
  ESM_CLASS_TYPE_MASK,
  ESM_CLASS_UDHI,
  ESME_ROK,
  ESME_RX_T_APPN,
  classifyStatus,
  concatInfoOf,
  concatUdh,
  encodeText,
  fromSmppAddress,
  messageOf,
  statusName,
  smppAddressFields,
} from './smpp-pdu';

export type SmppConnectorConfig = Extract<ConnectorConfig, { kind: 'smpp' }>;

/** Tuning that the carriers file does not carry; defaults suit a real SMSC, tests shorten them. */
export interface SmppConnectorTuning {
  inactivityMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** How long a submit waits for a usable bind before answering `retry` (nothing was sent). */
  bindWaitMs?: number;
  /** How long the later parts of a half-sent multipart message keep trying before it fails. */
  partRetryMs?: number;
  log?: SmppBindHooks['log'];
}

const quietLog: SmppBindHooks['log'] = { info() {}, warn() {}, debug() {} };

/** INTERMEDIATE_DELIVERY notifications (0x20) are receipts too (ENROUTE and the like). */
const RECEIPT_TYPES = new Set([ESM_CLASS_DELIVERY_RECEIPT, 0x20]);

export class SmppConnector implements Connector {
  readonly kind = 'smpp' as const;
  readonly id: string;
  readonly receiptIdFormat: ReceiptIdFormat;
  readonly binds: SmppBind[];
  private waiters = new Set<() => void>();
  private receiptHandlers: ((r: RawReceipt) => void | Promise<void>)[] = [];
  private inboundHandlers: ((m: RawInbound) => void | Promise<void>)[] = [];
  private reference = Math.floor(Math.random() * 256);
  private assembler = new ConcatAssembler();
  private readonly bindWaitMs: number;
  private readonly partRetryMs: number;
  private readonly log: SmppBindHooks['log'];

  constructor(
    readonly config: SmppConnectorConfig,
    tuning: SmppConnectorTuning = {},
  ) {
    this.id = config.id;
    this.receiptIdFormat = config.receipt_id_format;
    this.log = tuning.log ?? quietLog;
    this.bindWaitMs = tuning.bindWaitMs ?? config.response_timeout_ms;
    this.partRetryMs = tuning.partRetryMs ?? 60_000;
    const enquireLinkMs = config.enquire_link_seconds * 1000;
    const hooks: SmppBindHooks = {
      changed: (what) => this.wake(what === 'slot' ? 1 : Infinity),
      deliver: (pdu) => this.onDeliver(pdu),
      log: this.log,
    };
    this.binds = Array.from(
      { length: config.binds },
      (_, index) =>
        new SmppBind(
          {
            connectorId: config.id,
            index,
            host: config.host,
            port: config.port,
            systemId: config.system_id,
            password: config.password,
            systemType: config.system_type,
            window: config.window,
            submitRate: config.submit_rate,
            enquireLinkMs,
            responseTimeoutMs: config.response_timeout_ms,
            inactivityMs: tuning.inactivityMs ?? 2 * enquireLinkMs + config.response_timeout_ms,
            reconnectInitialMs: tuning.reconnectInitialMs ?? 250,
            reconnectMaxMs: tuning.reconnectMaxMs ?? 30_000,
            backoffInitialMs: tuning.backoffInitialMs ?? 250,
            backoffMaxMs: tuning.backoffMaxMs ?? 10_000,
          },
          hooks,
        ),
    );
  }

  /** Starts every bind; resolves once one is bound or the response timeout passed (never throws). */
  async start(): Promise<void> {
    for (const b of this.binds) b.start();
    const deadline = Date.now() + this.config.response_timeout_ms;
    while (!this.binds.some((b) => b.state === 'bound') && Date.now() < deadline) {
      await this.waitForChange(deadline - Date.now());
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.binds.map((b) => b.stop()));
    this.wake();
  }

  onReceipt(handler: (r: RawReceipt) => void | Promise<void>): void {
    this.receiptHandlers.push(handler);
  }

  onInbound(handler: (m: RawInbound) => void | Promise<void>): void {
    this.inboundHandlers.push(handler);
  }

  state(): ConnectorState {
    const up = this.binds.filter((b) => b.state === 'bound');
    return {
      id: this.id,
      kind: 'smpp',
      bindsUp: up.length,
      bindsConfigured: this.binds.length,
      inFlight: this.binds.reduce((n, b) => n + b.inFlight, 0),
      window: this.config.window * this.binds.length,
      throttled: up.some((b) => b.throttled),
    };
  }

  pausedUntil(): number {
    const now = Date.now();
    let until = Infinity;
    for (const b of this.binds) {
      if (b.state !== 'bound') continue;
      if (b.pausedUntil <= now) return 0;
      until = Math.min(until, b.pausedUntil);
    }
    return until === Infinity ? 0 : until;
  }

  async submit(req: SubmitRequest): Promise<SubmitOutcome> {
    const parts = req.parts.length ? req.parts : [req.body];
    const multipart = parts.length > 1;
    // One 8-bit reference for all parts of a message; the handset reassembles by it.
    const reference = multipart ? this.reference++ & 0xff : 0;
    const addresses = smppAddressFields(req.from, req.to);
    const ids: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const text = encodeText(parts[i], req.encoding);
      const fields: SubmitFields = {
        ...addresses,
        esm_class: multipart ? ESM_CLASS_UDHI : 0,
        registered_delivery: 1,
        data_coding: DATA_CODING[req.encoding],
        short_message: multipart ? Buffer.concat([concatUdh(reference, parts.length, i + 1), text]) : text,
        vendorTlv: { tag: PARLEY_MESSAGE_ID_TLV, value: req.messageId },
      };
      if (req.validUntil) fields.validity_period = req.validUntil;
      // The first part may be refused and retried as a whole; once a part is in, the rest must
      // follow, so later parts wait out refusals here rather than resend the accepted ones.
      const deadline = Date.now() + (i === 0 ? this.bindWaitMs : this.partRetryMs);
      for (;;) {
        const slot = await this.acquire(deadline);
        if (!slot) {
          if (i === 0)
            return { kind: 'retry', code: 'NO_BIND', reason: `no SMPP bind of ${this.id} is usable` };
          return {
            kind: 'failed',
            code: 'PARTIAL_SUBMIT',
            reason: `parts 1-${i} of ${parts.length} accepted; part ${i + 1} could not be submitted`,
          };
        }
        const { bind, at } = slot;
        const r = await bind.submit(fields, at);
        if (r.kind === 'not_sent') {
          // Its connection had just closed (the bind is down now, so `acquire` will not hand it out
          // again). Nothing reached the SMSC: another bound bind may take it; with none, a first
          // part answers `retry` at once instead of holding the caller while the bind reconnects.
          if (i === 0 && !this.binds.some((b) => b.state === 'bound'))
            return {
              kind: 'retry',
              code: 'BIND_LOST',
              reason: `the SMPP connection of ${this.id} closed before submit_sm was written`,
              backoffMs: this.reconnectWaitMs(),
            };
          continue;
        }
        if (r.kind === 'timeout')
          return {
            kind: 'unknown',
            reason: `no submit_sm_resp within ${this.config.response_timeout_ms} ms`,
          };
        if (r.kind === 'lost')
          return { kind: 'unknown', reason: 'connection lost after submit_sm was written' };
        const verdict = classifyStatus(r.status);
        const code = statusName(r.status);
        if (verdict === 'ok') {
          ids.push(r.messageId);
          break;
        }
        const what = r.nack ? 'generic_nack' : 'submit_sm_resp';
        if (verdict === 'failed') return { kind: 'failed', code, reason: `${what} ${code}` };
        if (i === 0)
          return {
            kind: 'retry',
            code,
            reason: `${what} ${code}`,
            backoffMs: Math.max(0, bind.pausedUntil - Date.now()),
          };
        if (Date.now() >= deadline)
          return { kind: 'failed', code: 'PARTIAL_SUBMIT', reason: `part ${i + 1}: ${what} ${code}` };
      }
    }
    return { kind: 'accepted', carrierMessageIds: ids };
  }

  /** Roughly how long until a bind is back: its first reconnect attempt. */
  private reconnectWaitMs(): number {
    return this.binds[0]?.opts.reconnectInitialMs ?? 0;
  }

  /**
   * A slot on a usable bind (the one able to send soonest), taken in the tick it was found free,
   * or undefined once the deadline passed.
   */
  private async acquire(deadline: number): Promise<{ bind: SmppBind; at: number } | undefined> {
    for (;;) {
      const now = Date.now();
      let best: SmppBind | undefined;
      for (const b of this.binds) {
        if (!b.ready(now)) continue;
        if (
          !best ||
          b.sendAt(now) < best.sendAt(now) ||
          (b.sendAt(now) === best.sendAt(now) && b.inFlight < best.inFlight)
        )
          best = b;
      }
      if (best) return { bind: best, at: best.reserve() };
      if (now >= deadline) return undefined;
      await this.waitForChange(deadline - now);
    }
  }

  private waitForChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, Math.max(1, ms));
      this.waiters.add(done);
    });
  }

  /** Wakes waiting submits, oldest first; a freed slot wakes one, not the whole crowd. */
  private wake(count = Infinity) {
    for (const w of [...this.waiters]) {
      if (count-- <= 0) break;
      w();
    }
  }

  private async onDeliver(pdu: PDU): Promise<number> {
    const esm = Number(pdu.esm_class ?? 0);
    const { text, udh } = messageOf(pdu);
    try {
      if (RECEIPT_TYPES.has(esm & ESM_CLASS_TYPE_MASK)) {
        const tlvId = pdu.receipted_message_id ? String(pdu.receipted_message_id) : '';
        const receipt: RawReceipt = {
          connectorId: this.id,
          carrierMessageId: tlvId || (/\bid:\s*([^\s]+)/i.exec(text)?.[1] ?? ''),
          recipient: fromSmppAddress(String(pdu.source_addr ?? ''), pdu.source_addr_ton),
          sender: fromSmppAddress(String(pdu.destination_addr ?? ''), pdu.dest_addr_ton),
          raw: text,
          receivedAt: Date.now(),
        };
        if (pdu.message_state !== undefined) receipt.messageState = Number(pdu.message_state);
        for (const h of this.receiptHandlers) await h(receipt);
        return ESME_ROK;
      }
      const from = fromSmppAddress(String(pdu.source_addr ?? ''), pdu.source_addr_ton);
      const to = fromSmppAddress(String(pdu.destination_addr ?? ''), pdu.dest_addr_ton);
      let body = text;
      const info =
        esm & ESM_CLASS_UDHI
          ? concatInfoOf(udh)
          : pdu.sar_total_segments
            ? { reference: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum }
            : undefined;
      if (info && info.total > 1) {
        const whole = this.assembler.add(`${from}|${to}`, info, text);
        if (whole === undefined) return ESME_ROK;
        body = whole;
      }
      const inbound: RawInbound = { connectorId: this.id, from, to, body, receivedAt: Date.now() };
      // The SMSC's own id of the MO, when it gives one, names it if it is offered again.
      if (pdu.receipted_message_id) inbound.carrierMessageId = String(pdu.receipted_message_id);
      for (const h of this.inboundHandlers) await h(inbound);
      return ESME_ROK;
    } catch (err) {
      // Not recorded: a temporary error makes the SMSC deliver it again later instead of losing it.
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'deliver_sm handler failed');
      return ESME_RX_T_APPN;
    }
  }
}
