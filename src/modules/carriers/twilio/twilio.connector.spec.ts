import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioConnector, outcomeOfResponse, statusCallbackUrl, twilioAuthToken } from './twilio.connector';

describe('outcomeOfResponse', () => {
  it('takes the SID of a created message as its one carrier id', () => {
    expect(outcomeOfResponse(201, { sid: 'SM0123', status: 'queued' })).toEqual({
      kind: 'accepted',
      carrierMessageIds: ['SM0123'],
    });
    expect(outcomeOfResponse(201, {}).kind).toBe('unknown');
  });

  it('retries 429 and 503, honouring Retry-After', () => {
    expect(outcomeOfResponse(429, { code: 20429, message: 'Too Many Requests' }, '2')).toEqual({
      kind: 'retry',
      code: '20429',
      reason: 'Too Many Requests',
      backoffMs: 2000,
    });
    expect(outcomeOfResponse(503, undefined)).toMatchObject({ kind: 'retry', code: '503' });
  });

  it("fails other 4xx with Twilio's error code", () => {
    expect(
      outcomeOfResponse(400, {
        code: 21211,
        message: "The 'To' number +1555 is not a valid phone number.",
        status: 400,
      }),
    ).toEqual({
      kind: 'failed',
      code: '21211',
      reason: "The 'To' number +1555 is not a valid phone number.",
    });
    expect(outcomeOfResponse(401, undefined)).toMatchObject({ kind: 'failed', code: '401' });
  });

  it('treats 500/502/504 as unknown: the message may have been taken', () => {
    expect(outcomeOfResponse(500, undefined).kind).toBe('unknown');
    expect(outcomeOfResponse(504, undefined).kind).toBe('unknown');
  });
});

describe('helpers', () => {
  it('builds the status callback URL on the public base', () => {
    expect(statusCallbackUrl('https://sms.example.com/', 'twilio', 'abc')).toBe(
      'https://sms.example.com/v1/webhooks/twilio/status?message_id=abc',
    );
  });

  it('reads the token from the named variable, else the default', () => {
    expect(twilioAuthToken({ auth_token_env: 'TWILIO_AUTH_TOKEN' }, {}, 'dev')).toBe('dev');
    expect(twilioAuthToken({ auth_token_env: 'OTHER_TOKEN' }, { OTHER_TOKEN: 'x' }, 'dev')).toBe('x');
  });
});

describe('TwilioConnector against a local HTTP provider', () => {
  let server: http.Server;
  let base: string;
  const seen: { url: string; auth: string; form: URLSearchParams }[] = [];
  let answer: (res: http.ServerResponse) => void = () => undefined;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({
          url: req.url!,
          auth: String(req.headers.authorization),
          form: new URLSearchParams(body),
        });
        answer(res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const connector = (timeoutMs = 2_000) =>
    new TwilioConnector(
      {
        id: 'twilio',
        kind: 'twilio',
        base_url: base,
        account_sid: 'AC123',
        auth_token_env: 'TWILIO_AUTH_TOKEN',
        concurrency: 2,
      },
      { authToken: 'tok', publicUrl: 'https://parley.example.com', timeoutMs },
    );
  const req = {
    messageId: '7d0b4f0e-8a43-4c51-9b36-3f8d2a1c9e10',
    from: '+18885550199',
    senderKind: 'toll_free' as const,
    to: '+14155550123',
    body: 'Your order ships today',
    encoding: 'GSM-7' as const,
    parts: ['Your order ships today'],
  };

  it('posts the form with Basic auth and the status callback, and returns the SID', async () => {
    answer = (res) => {
      res.statusCode = 201;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ sid: 'SMabc', status: 'queued' }));
    };
    const c = connector();
    await c.start();
    const out = await c.submit({ ...req, validUntil: new Date(Date.now() + 3_600_000) });
    expect(out).toEqual({ kind: 'accepted', carrierMessageIds: ['SMabc'] });
    const last = seen.at(-1)!;
    expect(last.url).toBe('/2010-04-01/Accounts/AC123/Messages.json');
    expect(last.auth).toBe(`Basic ${Buffer.from('AC123:tok').toString('base64')}`);
    expect(Object.fromEntries(last.form)).toMatchObject({
      To: '+14155550123',
      From: '+18885550199',
      Body: 'Your order ships today',
      StatusCallback: `https://parley.example.com/v1/webhooks/twilio/status?message_id=${req.messageId}`,
    });
    expect(Number(last.form.get('ValidityPeriod'))).toBeGreaterThan(3590);
    expect(c.state()).toMatchObject({ id: 'twilio', kind: 'twilio', inFlight: 0, throttled: false });
  });

  it('reports throttling in its state after a 429', async () => {
    answer = (res) => {
      res.statusCode = 429;
      res.setHeader('retry-after', '1');
      res.end(JSON.stringify({ code: 20429, message: 'Too Many Requests' }));
    };
    const c = connector();
    expect((await c.submit(req)).kind).toBe('retry');
    expect(c.state().throttled).toBe(true);
  });

  it('answers unknown when the provider does not answer in time', async () => {
    answer = () => undefined; // never answers
    const out = await connector(200).submit(req);
    expect(out.kind).toBe('unknown');
  });

  it('retries when nothing listens (the request never left)', async () => {
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const c = new TwilioConnector(
      {
        id: 'twilio',
        kind: 'twilio',
        base_url: `http://127.0.0.1:${port}`,
        account_sid: 'AC1',
        auth_token_env: 'TWILIO_AUTH_TOKEN',
        concurrency: 1,
      },
      { authToken: 'tok', publicUrl: 'http://127.0.0.1:3000' },
    );
    expect(await c.submit(req)).toMatchObject({ kind: 'retry', code: 'ECONNREFUSED' });
  });
});
