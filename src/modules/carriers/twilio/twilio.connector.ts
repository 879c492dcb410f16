// A Twilio-style HTTP provider: form-encoded POST to /2010-04-01/Accounts/{sid}/Messages.json with
// Basic auth, the message SID back as the carrier id, and status callbacks pointed at Parley's
// signed webhook. The provider concatenates multipart messages itself, so one SID covers all
// parts. Receipts and replies arrive through the webhooks (api role), not through this object.
import type { ConnectorConfig } from '../carriers.config';
import type {
  Connector,
  ConnectorState,
  RawInbound,
  RawReceipt,
  SubmitOutcome,
  SubmitRequest,
} from '../connector';

export type TwilioConnectorConfig = Extract<ConnectorConfig, { kind: 'twilio' }>;

export interface TwilioConnectorOptions {
  /** Undefined: none configured; sends are refused as failures rather than made unauthenticated. */
  authToken: string | undefined;
  /** Parley's public base URL (PARLEY_PUBLIC_URL); status callbacks are sent there. */
  publicUrl: string;
  /** How long a send may take before its outcome counts as unknown. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** The auth token of a Twilio-style connector: its env variable, with the development default. */
export function twilioAuthToken(
  cfg: Pick<TwilioConnectorConfig, 'auth_token_env'>,
  env: Record<string, string | undefined>,
  fallback: string | undefined,
): string | undefined {
  const name = cfg.auth_token_env || 'TWILIO_AUTH_TOKEN';
  if (name === 'TWILIO_AUTH_TOKEN') return fallback;
  return env[name] || fallback;
}

/** Where the provider posts this connector's status callbacks for one message. */
export function statusCallbackUrl(publicUrl: string, connectorId: string, messageId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/v1/webhooks/${encodeURIComponent(connectorId)}/status?message_id=${encodeURIComponent(messageId)}`;
}

// Twilio accepts a validity period of 1 to 36,000 seconds.
const MAX_VALIDITY_SECONDS = 36_000;

/** Maps a provider answer to a submit outcome (pure, so every status code's meaning is tested). */
export function outcomeOfResponse(
  status: number,
  answer: unknown,
  retryAfter?: string | null,
): SubmitOutcome {
  const body = (answer && typeof answer === 'object' ? answer : {}) as {
    sid?: unknown;
    code?: unknown;
    message?: unknown;
  };
  if (status >= 200 && status < 300) {
    const sid = typeof body.sid === 'string' ? body.sid : undefined;
    if (sid) return { kind: 'accepted', carrierMessageIds: [sid] };
    // Taken, but we cannot know under which id: reconcile rather than resend.
    return { kind: 'unknown', reason: `answered ${status} without a message sid` };
  }
  const code = body.code !== undefined && body.code !== null ? String(body.code) : String(status);
  const reason = typeof body.message === 'string' ? body.message : `HTTP ${status}`;
  if (status === 429 || status === 503) {
    const seconds = Number(retryAfter);
    return {
      kind: 'retry',
      code,
      reason,
      ...(Number.isFinite(seconds) && seconds > 0 ? { backoffMs: Math.min(seconds * 1000, 60_000) } : {}),
    };
  }
  if (status >= 400 && status < 500) return { kind: 'failed', code, reason };
  // 500/502/504: the provider (or a proxy in front of it) may have taken the message.
  return { kind: 'unknown', reason: `${reason} (HTTP ${status})` };
}

export class TwilioConnector implements Connector {
  readonly kind = 'twilio' as const;
  /** MessageSid is the same in the answer and in every status callback. */
  readonly receiptIdFormat = 'as_is' as const;
  private started = false;
  private inFlight = 0;
  private throttledUntil = 0;
  private waiting: (() => void)[] = [];
  private readonly fetchFn: typeof fetch;

  constructor(
    private readonly cfg: TwilioConnectorConfig,
    private readonly opts: TwilioConnectorOptions,
  ) {
    this.fetchFn = opts.fetch ?? fetch;
  }

  get id(): string {
    return this.cfg.id;
  }

  async start(): Promise<void> {
    this.started = true;
  }

  async stop(): Promise<void> {
    this.started = false;
    for (const w of this.waiting.splice(0)) w();
  }

  // Receipts and replies come in through the webhooks; nothing is ever emitted here.
  onReceipt(_handler: (r: RawReceipt) => void): void {}
  onInbound(_handler: (m: RawInbound) => void): void {}

  state(): ConnectorState {
    return {
      id: this.cfg.id,
      kind: 'twilio',
      bindsUp: this.started ? this.cfg.concurrency : 0,
      bindsConfigured: this.cfg.concurrency,
      inFlight: this.inFlight,
      window: this.cfg.concurrency,
      throttled: Date.now() < this.throttledUntil,
    };
  }

  /** A throttled provider's next submit is sent (and answered 429 again), not held here. */
  pausedUntil(): number {
    return 0;
  }

  async submit(req: SubmitRequest): Promise<SubmitOutcome> {
    await this.slot();
    this.inFlight++;
    try {
      return await this.send(req);
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  private slot(): Promise<void> {
    if (this.inFlight < this.cfg.concurrency) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private async send(req: SubmitRequest): Promise<SubmitOutcome> {
    const url = `${this.cfg.base_url.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(this.cfg.account_sid)}/Messages.json`;
    const form = new URLSearchParams({
      To: req.to,
      From: req.from,
      Body: req.body,
      StatusCallback: statusCallbackUrl(this.opts.publicUrl, this.cfg.id, req.messageId),
    });
    if (req.validUntil) {
      const seconds = Math.ceil((req.validUntil.getTime() - Date.now()) / 1000);
      form.set('ValidityPeriod', String(Math.min(MAX_VALIDITY_SECONDS, Math.max(1, seconds))));
    }
    if (!this.opts.authToken)
      return { kind: 'failed', code: 'no_auth_token', reason: `connector ${this.cfg.id} has no auth token` };
    const auth = Buffer.from(`${this.cfg.account_sid}:${this.opts.authToken}`).toString('base64');
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${auth}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      return this.networkOutcome(err);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    const outcome = outcomeOfResponse(res.status, body, res.headers.get('retry-after'));
    if (outcome.kind === 'retry') this.throttledUntil = Date.now() + (outcome.backoffMs ?? 1_000);
    return outcome;
  }

  /** Refused connections never reached the provider (safe to retry); anything later may have. */
  private networkOutcome(err: unknown): SubmitOutcome {
    const e = err as { name?: string; message?: string; cause?: { code?: string } };
    const code = e.cause?.code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return { kind: 'retry', code, reason: `provider unreachable (${code})`, backoffMs: 1_000 };
    }
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return { kind: 'unknown', reason: 'no answer from the provider in time' };
    }
    return { kind: 'unknown', reason: `connection failed after sending (${code ?? e.message ?? 'error'})` };
  }
}
