// The simulator's SMPP side: an SMSC that binds ESMEs (system_id/password of the carriers file's
// SMPP connectors), answers submit_sm within the shared carrier caps, sends delivery receipts and
// scripted customer replies as deliver_sm, and offers again whatever an ESME did not acknowledge.
import type { AddressInfo } from 'node:net';
import type { PDU, Server, Session } from 'smpp';
import { analyzeText } from '../modules/encoding';
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
  smppAddressFields,
} from '../modules/carriers/smpp/smpp-pdu';
import { RECEIPT_STATES, ReceiptOutcome, receiptText } from './receipt-text';
import { Scenario, inRange, outcomeFor, receiptIdFor, replyFor, unit } from './scenario';
import type { SimulatorHost } from './simulator-host';

interface SmscSession {
  session: Session;
  systemId?: string;
  bound: boolean;
  /** deliver_sm written and not yet answered; delivered again elsewhere if the session dies. */
  outstanding: Map<number, Record<string, unknown>>;
}

export class SimulatedSmsc {
  private server?: Server;
  private sessions = new Set<SmscSession>();
  private pendingDeliveries = new Map<string, Record<string, unknown>[]>();
  private assembler = new ConcatAssembler();
  private partials = new Map<string, { ids: string[]; outcomes: ReceiptOutcome[]; parts: number }>();
  private moReference = 0;
  private moCounter = 0;
  receiptsPending = 0;

  constructor(
    private readonly sim: SimulatorHost,
    /** SMPP system_id → password allowed to bind. */
    private readonly accounts: Record<string, string>,
  ) {}

  /** Starts the SMSC; resolves to the port it listens on. */
  async listen(port: number, host: string): Promise<number> {
    this.server = smpp.createServer((session) => this.onSession(session));
    await listen(this.server, port, host);
    return (this.server.address() as AddressInfo).port;
  }

  /** Drops every session and stops listening. */
  close(): Promise<void> {
    this.dropConnections();
    this.sessions.clear();
    const server = this.server;
    this.server = undefined;
    return server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
  }

  dropConnections(): void {
    for (const s of [...this.sessions]) s.session.destroy();
  }

  bindCount(): number {
    return [...this.sessions].filter((s) => s.bound).length;
  }

  /** Receipts and replies due but held because no session of their system_id is bound. */
  deliveriesWaiting(): number {
    return [...this.pendingDeliveries.values()].reduce((n, l) => n + l.length, 0);
  }

  private onSession(session: Session) {
    coalesceWrites(session.socket);
    const s: SmscSession = { session, bound: false, outstanding: new Map() };
    this.sessions.add(s);
    const onBind = (pdu: PDU) => {
      const systemId = String(pdu.system_id ?? '');
      let status = ESME_ROK;
      if (Date.now() < this.sim.refuseBindsUntil) status = smpp.errors.ESME_RBINDFAIL;
      else if (!(systemId in this.accounts)) status = smpp.errors.ESME_RINVSYSID;
      else if (this.accounts[systemId] !== String(pdu.password ?? '')) status = smpp.errors.ESME_RINVPASWD;
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
    this.sim.counters.submits++;
    const scenario = this.sim.currentScenario;
    const answer = (status: number, messageId?: string) => {
      const send = () =>
        session.send(
          status === ESME_ROK
            ? pdu.response({ message_id: messageId })
            : pdu.response({ command_status: status }),
        );
      this.sim.later(inRange(scenario.latency_ms, Math.random()), send);
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
    const key = parleyId ?? `${from}|${to}|${concat?.reference ?? this.sim.issuedIds}`;
    const rule = this.sim.rule(to);
    if (rule?.no_response || unit(scenario.seed, 'no-response', key, seq) < scenario.no_response) {
      this.sim.counters.no_response++;
      return;
    }
    if (!/^\+\d{6,15}$/.test(to)) {
      this.sim.counters.errors++;
      return answer(smpp.errors.ESME_RINVDSTADR);
    }
    const refusal = rule?.submit_error ?? randomRefusal(scenario, key, seq);
    if (refusal) {
      this.sim.counters.errors++;
      return answer(statusCode(refusal) ?? smpp.errors.ESME_RSYSERR);
    }
    const admission = this.sim.admit(to, 1, performance.now(), parleyId);
    if (!admission.ok) {
      if (admission.reason === 'throttled') return answer(ESME_RTHROTTLED);
      this.sim.counters.errors++;
      return answer(smpp.errors.ESME_RINVDSTADR);
    }
    const messageId = this.sim.newMessageId();
    this.sim.counters.accepted++;
    this.sim.noteDuplicate(parleyId ? `${parleyId}#${seq}` : undefined);
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
    this.sim.record({
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
        this.sim.later(after, () => this.sendMo(s.systemId!, { from: to, to: from, text: reply }));
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
    const textId = receiptIdFor(this.sim.currentScenario, r.messageId);
    const tlv = this.sim.currentScenario.receipt_tlv;
    this.sim.later(r.delay, () => {
      this.receiptsPending--;
      const state = RECEIPT_STATES[r.outcome];
      this.queueDelivery(systemId, {
        // A receipt comes from the handset to our sender.
        ...smppAddressFields(r.to, r.from),
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
    const moId = m.id ?? `mo-${this.sim.idPrefix}-${(++this.moCounter).toString(16)}`;
    // Long replies arrive as handsets send them: concatenated parts with one reference.
    const { encoding, parts } = analyzeText(m.text);
    const addresses = smppAddressFields(m.from, m.to);
    const reference = this.moReference++ & 0xff;
    parts.forEach((part, i) => {
      const text = encodeText(part, encoding);
      this.queueDelivery(systemId, {
        ...addresses,
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
        if (__kind === 'receipt') this.sim.counters.receipts_sent++;
        else if (__kind === 'reply') this.sim.counters.replies_sent++;
      } else {
        // The ESME could not take it now (e.g. its Kafka is away): offer it again shortly.
        this.sim.later(1_000, () => this.queueDelivery(s.systemId!, fields));
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
