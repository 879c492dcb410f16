// The simulator's HTTP side: its control API (GET /stats, POST /reset, GET|POST /scenario,
// GET /messages) and a Twilio-style provider (POST /2010-04-01/Accounts/:sid/Messages.json with
// Basic auth, signed status callbacks, signed inbound replies) sharing the SMSC's carrier caps
// through the simulator's shared state (simulator-host.ts).
import { randomBytes } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ZodError } from 'zod/v4';
import { analyzeText } from '../modules/encoding';
import { twilioSignature } from '../modules/carriers/twilio/twilio-signature';
import type { SimulatorHost } from './simulator-host';
import type { ReceiptOutcome } from './receipt-text';
import { inRange, outcomeFor, replyFor, unit } from './scenario';

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

/** Twilio's final status and error code for each simulated outcome. */
const TWILIO_FINAL: Record<ReceiptOutcome, { status: string; errorCode?: string }> = {
  delivered: { status: 'delivered' },
  undelivered: { status: 'undelivered', errorCode: '30003' },
  expired: { status: 'failed', errorCode: '30001' },
  rejected: { status: 'failed', errorCode: '30007' },
};

export class SimulatorHttp {
  private server: Server;

  constructor(private readonly sim: SimulatorHost) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        const status = err instanceof ZodError ? 400 : 500;
        json(res, status, { error: err instanceof Error ? err.message : String(err) });
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /stats') return json(res, 200, this.sim.stats());
    if (route === 'GET /health') return json(res, 200, { ok: true });
    if (route === 'POST /reset') {
      await readBody(req);
      this.sim.resetStats();
      return json(res, 200, { ok: true });
    }
    if (route === 'GET /scenario') return json(res, 200, this.sim.currentScenario);
    if (route === 'POST /scenario') {
      const text = await readBody(req);
      const body = text ? JSON.parse(text) : {};
      return json(res, 200, this.sim.applyScenario(body));
    }
    if (route === 'GET /messages')
      return json(res, 200, this.sim.messages(url.searchParams.get('to') ?? undefined));
    if (route === 'GET /journal') {
      const from = Number(url.searchParams.get('from') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 10_000);
      if (!Number.isInteger(from) || from < 0) return json(res, 400, { error: 'from: a whole number ≥ 0' });
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000)
        return json(res, 400, { error: 'limit: a whole number from 1 to 100000' });
      return json(
        res,
        200,
        url.searchParams.get('kind') === 'offers'
          ? this.sim.offerJournal(from, limit)
          : this.sim.journal(from, limit),
      );
    }
    if (route === 'POST /mo') return this.mo(req, res);
    const m = MESSAGES_PATH.exec(url.pathname);
    if (m && req.method === 'POST') return this.sendMessage(decodeURIComponent(m[1]), req, res);
    return json(res, 404, { error: `no route ${route}` });
  }

  /** A customer's message as SMPP MO to a bound system: `{ system_id, from, to, text }`. */
  private async mo(req: IncomingMessage, res: ServerResponse) {
    let body: Record<string, unknown>;
    try {
      const text = await readBody(req);
      body = text ? JSON.parse(text) : {};
    } catch {
      return json(res, 400, { error: 'body: not JSON' });
    }
    for (const field of ['system_id', 'from', 'to', 'text'] as const)
      if (typeof body[field] !== 'string' || !(body[field] as string).length)
        return json(res, 400, { error: `${field}: a non-empty string is required` });
    const { system_id: systemId, from, to, text } = body as Record<string, string>;
    return json(res, 202, { id: this.sim.sendMo(systemId, { from, to, text }) });
  }

  private async sendMessage(sid: string, req: IncomingMessage, res: ServerResponse) {
    const sim = this.sim;
    sim.counters.http.requests++;
    const token = sim.twilioAccounts[sid];
    const auth = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const [user, pass] = auth ? Buffer.from(auth[1], 'base64').toString('utf8').split(/:(.*)/s) : [];
    if (token === undefined || user !== sid || pass !== token) {
      await readBody(req);
      sim.counters.http.unauthorized++;
      return json(res, 401, twilioError(20003, 'Authenticate', 401));
    }
    const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
    const { To: to, From: from, Body: body = '', StatusCallback: callback } = form;
    if (!to) return json(res, 400, twilioError(21604, "A 'To' phone number is required.", 400));
    if (!from) return json(res, 400, twilioError(21603, "A 'From' phone number is required.", 400));
    if (!body) return json(res, 400, twilioError(21602, 'Message body is required.', 400));
    if (!/^\+\d{6,15}$/.test(to))
      return json(res, 400, twilioError(21211, `The 'To' number ${to} is not a valid phone number.`, 400));
    const scenario = sim.currentScenario;
    sim.counters.submits++;
    const messageId = callback ? (new URL(callback).searchParams.get('message_id') ?? undefined) : undefined;
    const key = messageId ?? `${from}|${to}|${body}|${sim.counters.submits}`;
    const rule = sim.rule(to);
    const latency = inRange(scenario.latency_ms, Math.random());
    if (latency) await new Promise((r) => setTimeout(r, latency));
    if (rule?.submit_error) {
      sim.counters.errors++;
      return json(res, 400, twilioError(21610, `refused by scenario: ${rule.submit_error}`, 400));
    }
    const analysis = analyzeText(body);
    const admission = sim.admit(to, analysis.segments);
    if (!admission.ok) {
      if (admission.reason === 'throttled')
        return json(res, 429, twilioError(20429, 'Too Many Requests', 429));
      sim.counters.errors++;
      return json(
        res,
        400,
        twilioError(21408, `Permission to send an SMS has not been enabled for ${to}`, 400),
      );
    }
    sim.counters.accepted++;
    sim.noteDuplicate(messageId);
    const messageSid = `SM${randomBytes(16).toString('hex')}`;
    const now = new Date();
    sim.record({
      side: 'http',
      parleyMessageId: messageId,
      from,
      to,
      text: body,
      parts: analysis.segments,
      dataCoding: analysis.encoding === 'UCS-2' ? 8 : 0,
      carrierMessageIds: [messageSid],
      at: Date.now(),
    });
    json(res, 201, {
      sid: messageSid,
      account_sid: sid,
      to,
      from,
      body,
      status: 'queued',
      num_segments: String(analysis.segments),
      direction: 'outbound-api',
      date_created: now.toUTCString(),
      error_code: null,
      error_message: null,
      uri: `/2010-04-01/Accounts/${sid}/Messages/${messageSid}.json`,
    });

    const delay = inRange(scenario.receipt_delay_ms, unit(scenario.seed, 'receipt-delay', key));
    const validity = Number(form.ValidityPeriod ?? 0);
    const outcome0 = outcomeFor(scenario, key, rule);
    const outcome: ReceiptOutcome = validity && delay > validity * 1000 ? 'expired' : outcome0;
    const base = {
      MessageSid: messageSid,
      SmsSid: messageSid,
      AccountSid: sid,
      To: to,
      From: from,
      ApiVersion: '2010-04-01',
    };
    if (callback) {
      sim.later(
        Math.floor(delay / 2),
        () =>
          void this.post(callback, token, { ...base, MessageStatus: 'sent', SmsStatus: 'sent' }, 'callback'),
      );
      const final = TWILIO_FINAL[outcome];
      sim.later(
        delay,
        () =>
          void this.post(
            callback,
            token,
            {
              ...base,
              MessageStatus: final.status,
              SmsStatus: final.status,
              ...(final.errorCode ? { ErrorCode: final.errorCode } : {}),
            },
            'callback',
          ),
      );
    }
    if (outcome === 'delivered') {
      const reply = replyFor(scenario, key, rule);
      const hook = scenario.inbound_webhook_url;
      if (reply !== undefined && hook) {
        const after = delay + inRange(scenario.replies.delay_ms, unit(scenario.seed, 'reply-delay', key));
        sim.later(after, () => {
          const inboundSid = `SM${randomBytes(16).toString('hex')}`;
          void this.post(
            hook,
            token,
            {
              MessageSid: inboundSid,
              SmsMessageSid: inboundSid,
              AccountSid: sid,
              From: to,
              To: from,
              Body: reply,
              NumSegments: String(analyzeText(reply).segments),
              SmsStatus: 'received',
              ApiVersion: '2010-04-01',
            },
            'inbound',
          );
        });
      }
    }
  }

  /** Form-encoded POST signed like Twilio does; one attempt, counted either way. */
  private async post(
    url: string,
    token: string,
    params: Record<string, string>,
    kind: 'callback' | 'inbound',
  ) {
    const counters = this.sim.counters.http;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': twilioSignature(token, url, params),
          'user-agent': 'TwilioProxy/1.1 (parley-simulator)',
        },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      if (kind === 'callback') counters.callbacks_sent++;
      else {
        counters.inbound_sent++;
        this.sim.counters.replies_sent++;
      }
    } catch (err) {
      if (kind === 'callback') counters.callbacks_failed++;
      else counters.inbound_failed++;
      this.sim.log(`${kind} POST failed`, { url, err: err instanceof Error ? err.message : String(err) });
    }
  }
}

function twilioError(code: number, message: string, status: number) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function json(res: ServerResponse, status: number, body: unknown) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
