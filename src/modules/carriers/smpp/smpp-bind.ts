// One SMPP bind_transceiver session of a connector: connects, binds, keeps the link alive with
// enquire_link, notices a silent peer (inactivity), reconnects with exponential backoff and jitter,
// holds a window of outstanding submit_sm, spaces submits to an optional rate, and pauses itself
// when the SMSC answers throttled or queue full. The connector decides which bind sends what.
import type { PDU, Session } from 'smpp';
import { coalesceWrites, smpp } from './smpp-lib';
import { ESME_ROK, isBackoffStatus, statusName } from './smpp-pdu';
import { SubmitFields, decodeHot, submitSmPdu } from './smpp-wire';

export interface SmppBindOptions {
  connectorId: string;
  index: number;
  host: string;
  port: number;
  systemId: string;
  password: string;
  systemType: string;
  window: number;
  /** submit_sm per second on this bind; 0 = unlimited. */
  submitRate: number;
  enquireLinkMs: number;
  responseTimeoutMs: number;
  /** Nothing heard from the SMSC for this long (not even an enquire_link_resp): the link is dead. */
  inactivityMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

export interface SmppBindHooks {
  /**
   * Called whenever the bind may have become usable: `slot` when one window slot freed (one waiting
   * submit can use it), `state` when it bound, went down or its pause ended (everyone looks again).
   */
  changed(what: 'slot' | 'state'): void;
  /** A deliver_sm arrived; resolves to the command_status of our deliver_sm_resp. */
  deliver(pdu: PDU): Promise<number>;
  log: {
    info(obj: object, msg: string): void;
    warn(obj: object, msg: string): void;
    debug(obj: object, msg: string): void;
  };
}

/** What became of one submit_sm on the wire. */
export type PartResult =
  | { kind: 'response'; status: number; messageId: string; nack: boolean }
  /** Never written (bind went down first): definitely not at the SMSC. */
  | { kind: 'not_sent' }
  | { kind: 'timeout' }
  /** Written, then the connection closed before an answer: the SMSC may or may not have it. */
  | { kind: 'lost' };

type BindState = 'down' | 'connecting' | 'bound' | 'stopped';

export class SmppBind {
  state: BindState = 'down';
  inFlight = 0;
  pausedUntil = 0;
  private throttleStreak = 0;
  private nextSendAt = 0;
  private session?: Session;
  private pending = new Map<number, (r: PartResult) => void>();
  private reconnectAttempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private tickTimer?: NodeJS.Timeout;
  private pauseTimer?: NodeJS.Timeout;
  private lastHeardAt = 0;
  private lastEnquireAt = 0;
  private enquireOutstanding = false;

  constructor(
    readonly opts: SmppBindOptions,
    private readonly hooks: SmppBindHooks,
  ) {}

  start() {
    if (this.state === 'stopped') this.state = 'down';
    if (this.state === 'down') this.connect();
  }

  /** Usable now: bound, not backing off, a free slot in the window. */
  ready(now: number): boolean {
    return (
      this.state === 'bound' &&
      now >= this.pausedUntil &&
      this.inFlight < this.opts.window &&
      this.session?.socket.writable === true
    );
  }

  get throttled(): boolean {
    return Date.now() < this.pausedUntil;
  }

  /** The earliest time this bind may send its next submit (its rate spacing). */
  sendAt(now: number): number {
    return Math.max(now, this.nextSendAt);
  }

  /**
   * Takes a window slot and a place in the rate schedule for one submit_sm, in the same tick as
   * `ready()` said yes (so concurrent callers cannot all see the same free slot); `submit` with
   * the returned send time uses it.
   */
  reserve(): number {
    this.inFlight++;
    const at = this.sendAt(Date.now());
    if (this.opts.submitRate > 0) this.nextSendAt = at + 1000 / this.opts.submitRate;
    return at;
  }

  /** Sends one submit_sm in a slot taken by `reserve` (at its send time) and waits for its answer. */
  async submit(fields: SubmitFields, at: number): Promise<PartResult> {
    try {
      const wait = at - Date.now();
      if (wait > 0) await sleep(wait);
      return await this.send(fields);
    } finally {
      this.inFlight--;
      // A slot of a bind that went down is no use to anyone: its going down woke them already.
      if (this.state === 'bound') this.hooks.changed('slot');
    }
  }

  private send(fields: SubmitFields): Promise<PartResult> {
    const session = this.session;
    if (this.state !== 'bound' || !session) return Promise.resolve({ kind: 'not_sent' });
    if (!session.socket.writable) {
      // The SMSC closed its side and our socket is closing: take the bind down now rather than
      // when 'close' arrives, or every waiting submit would pick it again and again.
      this.drop(session, 'connection closing');
      return Promise.resolve({ kind: 'not_sent' });
    }
    return new Promise<PartResult>((resolve) => {
      const pdu = submitSmPdu(fields) as unknown as PDU;
      const wait: { timer?: NodeJS.Timeout } = {};
      let seq = 0;
      const settle = (r: PartResult) => {
        if (wait.timer) clearTimeout(wait.timer);
        if (seq) this.pending.delete(seq);
        if (r.kind === 'response') this.onResponseStatus(r.status);
        resolve(r);
      };
      let done = false;
      const once = (r: PartResult) => {
        if (done) return;
        done = true;
        settle(r);
      };
      const written = session.send(pdu, (resp) =>
        once({
          kind: 'response',
          status: resp.command_status,
          messageId: String(resp.message_id ?? ''),
          nack: resp.command === 'generic_nack',
        }),
      );
      if (!written) {
        this.drop(session, 'connection closing');
        return once({ kind: 'not_sent' });
      }
      seq = pdu.sequence_number;
      this.pending.set(seq, once);
      wait.timer = setTimeout(() => once({ kind: 'timeout' }), this.opts.responseTimeoutMs);
    });
  }

  private onResponseStatus(status: number) {
    if (isBackoffStatus(status)) {
      // Answers to submits that left before the current pause began belong to the same episode:
      // they neither lengthen the pause nor count as another refusal in a row (a window of 100
      // refused at once would otherwise mean a 10 s pause for one throttled second).
      if (Date.now() < this.pausedUntil) return;
      // The SMSC speaks for the whole bind: pause every submit on it, longer each episode in a
      // row, with jitter so several binds (and engines) do not come back in lockstep.
      this.throttleStreak++;
      const base = Math.min(
        this.opts.backoffMaxMs,
        this.opts.backoffInitialMs * 2 ** Math.min(this.throttleStreak - 1, 16),
      );
      const pause = base * (0.75 + Math.random() * 0.5);
      const until = Date.now() + pause;
      if (until > this.pausedUntil) {
        this.pausedUntil = until;
        if (this.pauseTimer) clearTimeout(this.pauseTimer);
        this.pauseTimer = setTimeout(() => this.hooks.changed('state'), pause + 1);
        this.pauseTimer.unref();
      }
      this.hooks.log.debug(
        { bind: this.opts.index, status: statusName(status), pauseMs: Math.round(pause) },
        'smpp bind backing off',
      );
    } else if (status === ESME_ROK) {
      this.throttleStreak = 0;
    }
  }

  private connect() {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const o = this.opts;
    const session = smpp.connect({ host: o.host, port: o.port });
    coalesceWrites(session.socket, 'tick');
    readHotPdus(session);
    this.session = session;
    const bindTimer = setTimeout(() => {
      this.hooks.log.warn({ bind: o.index }, 'smpp bind: no bind_transceiver_resp in time');
      session.destroy();
    }, o.responseTimeoutMs);
    session.on('connect', () => {
      session.bind_transceiver(
        {
          system_id: o.systemId,
          password: o.password,
          system_type: o.systemType,
          interface_version: 0x34,
        },
        (resp) => {
          clearTimeout(bindTimer);
          if (this.session !== session) return;
          if (resp.command_status !== ESME_ROK) {
            this.hooks.log.warn(
              { bind: o.index, status: statusName(resp.command_status) },
              'smpp bind refused',
            );
            session.destroy();
            return;
          }
          this.state = 'bound';
          this.reconnectAttempt = 0;
          this.lastHeardAt = Date.now();
          this.lastEnquireAt = Date.now();
          this.enquireOutstanding = false;
          this.startTicks();
          this.hooks.log.info({ bind: o.index, host: o.host, port: o.port }, 'smpp bound');
          this.hooks.changed('state');
        },
      );
    });
    session.on('pdu', () => {
      this.lastHeardAt = Date.now();
    });
    session.on('enquire_link', (pdu: PDU) => {
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: PDU) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('deliver_sm', (pdu: PDU) => {
      this.hooks.deliver(pdu).then(
        (status) => session.send(pdu.response({ command_status: status })),
        () => session.send(pdu.response({ command_status: 0x64 })),
      );
    });
    session.on('error', (err: Error) => {
      this.hooks.log.debug({ bind: o.index, err: err.message }, 'smpp socket error');
    });
    // The SMSC closed the connection (FIN). The socket ends and closes on its own, but only once
    // the event loop gets to it; the bind is down from this moment.
    session.socket.once('end', () => {
      clearTimeout(bindTimer);
      this.drop(session, 'closed by the SMSC');
    });
    session.on('close', () => {
      clearTimeout(bindTimer);
      if (this.session === session) this.onClosed();
    });
  }

  /** Takes the bind down at once (if `session` is still its session) and destroys the socket. */
  private drop(session: Session, why: string) {
    if (this.session !== session) return;
    this.hooks.log.debug({ bind: this.opts.index, why }, 'smpp connection dropped');
    this.onClosed();
    session.destroy();
  }

  private onClosed() {
    const wasBound = this.state === 'bound';
    this.session = undefined;
    this.stopTicks();
    // Everything written and unanswered is now in doubt; the connector reports it as unknown.
    for (const settle of [...this.pending.values()]) settle({ kind: 'lost' });
    this.pending.clear();
    if (wasBound) this.hooks.log.warn({ bind: this.opts.index }, 'smpp bind lost');
    if (this.state === 'stopped') return;
    this.state = 'down';
    this.hooks.changed('state');
    const o = this.opts;
    const base = Math.min(o.reconnectMaxMs, o.reconnectInitialMs * 2 ** Math.min(this.reconnectAttempt, 16));
    const delay = base * (0.5 + Math.random() * 0.5);
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private startTicks() {
    this.stopTicks();
    const every = Math.max(50, Math.min(1000, this.opts.enquireLinkMs / 2));
    this.tickTimer = setInterval(() => this.tick(), every);
    this.tickTimer.unref();
  }

  private stopTicks() {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = undefined;
  }

  private tick() {
    const session = this.session;
    if (!session || this.state !== 'bound') return;
    const now = Date.now();
    if (now - this.lastHeardAt > this.opts.inactivityMs) {
      this.hooks.log.warn({ bind: this.opts.index }, 'smpp bind silent too long; reconnecting');
      session.destroy();
      return;
    }
    if (
      !this.enquireOutstanding &&
      now - Math.max(this.lastEnquireAt, this.lastHeardAt) >= this.opts.enquireLinkMs
    ) {
      this.lastEnquireAt = now;
      this.enquireOutstanding = true;
      const t = setTimeout(() => {
        if (this.enquireOutstanding && this.session === session) {
          this.hooks.log.warn({ bind: this.opts.index }, 'smpp enquire_link unanswered; reconnecting');
          session.destroy();
        }
      }, this.opts.responseTimeoutMs);
      t.unref();
      session.enquire_link(() => {
        clearTimeout(t);
        this.enquireOutstanding = false;
      });
    }
  }

  /** Unbinds politely (waiting briefly for unbind_resp), then closes; no reconnect after. */
  async stop(): Promise<void> {
    const session = this.session;
    this.state = 'stopped';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pauseTimer) clearTimeout(this.pauseTimer);
    this.stopTicks();
    if (!session) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => session.destroy(), 1_000);
      session.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (!session.socket.writable || !session.unbind(() => session.close())) session.destroy();
    });
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the package's Session keeps while it reads (not in its typings). */
type ReadingSession = Session & {
  _busy: boolean;
  _command_length: number | null;
  _callbacks: Record<number, (pdu: PDU) => void>;
  paused: boolean;
};

const MAX_PDU_LENGTH = 16_384;

/**
 * Reads the session's socket as the package does (length, then the PDU; events `pdu` and its
 * command; response callbacks by sequence number), but decodes submit_sm_resp, generic_nack and
 * deliver_sm with smpp-wire.ts; every other command still goes through the package.
 */
function readHotPdus(session: Session): void {
  const s = session as ReadingSession;
  const socket = session.socket;
  socket.removeAllListeners('readable');
  socket.on('readable', () => {
    if (s._busy) return;
    s._busy = true;
    try {
      while (!s.paused) {
        if (!s._command_length) {
          const head = socket.read(4) as Buffer | null;
          if (!head) break;
          const length = head.readUInt32BE(0);
          if (length < 16 || length > MAX_PDU_LENGTH) throw new Error(`PDU length ${length} out of range`);
          s._command_length = length;
        }
        const length = s._command_length;
        const body = socket.read(length - 4) as Buffer | null;
        if (!body) break;
        s._command_length = null;
        const buffer = Buffer.allocUnsafe(length);
        buffer.writeUInt32BE(length, 0);
        body.copy(buffer, 4);
        const hot = decodeHot(buffer);
        const pdu = (hot ?? new smpp.PDU(buffer)) as unknown as PDU;
        session.emit('pdu', pdu);
        session.emit(pdu.command, pdu);
        const cb = pdu.isResponse() ? s._callbacks[pdu.sequence_number] : undefined;
        if (cb) {
          delete s._callbacks[pdu.sequence_number];
          cb(pdu);
        }
      }
    } catch (err) {
      session.emit('error', err);
    } finally {
      s._busy = false;
    }
  });
}
