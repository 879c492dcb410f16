// One request must not stop the engine, and authentication decides on the route that runs: a key is
// asked for on /v1 routes however the path is written (percent-encoded, absolute form); JSON bodies
// over 1 MiB are refused with the usual error shape; a preview of the longest body any message may
// have (and of one longer) answers at once while /health/ready keeps answering.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { twilioSignature } from '../src/modules/carriers/twilio/twilio-signature';
import { engineForFile, startEngine } from './support/engine';

const file = engineForFile();

/** A raw HTTP/1.1 request, so the request target is sent exactly as written. */
function raw(target: string): Promise<number> {
  const { hostname, port } = new URL(file.engine.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () =>
      s.write(`GET ${target} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nconnection: close\r\n\r\n`),
    );
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

describe('authentication on the route that runs', () => {
  it('asks for a key on a percent-encoded /v1 path and on an absolute-form request', async () => {
    expect(await raw('/v1/connectors')).toBe(401);
    expect(await raw('/%761/connectors')).toBe(401);
    expect(await raw('/%761/carriers')).toBe(401);
    expect(await raw(`${file.engine.url}/v1/connectors`)).toBe(401);
    // Health stays public.
    expect(await raw('/health/live')).toBe(200);
  });
});

describe('bounded work per request', () => {
  it('refuses a JSON body over 1 MiB with 413 in the usual error shape', async () => {
    const r = await file.api.post('/v1/messages/preview', { body: 'a'.repeat(1024 * 1024 + 10) });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
  });

  it('previews the longest message body in milliseconds and refuses a longer one before any analysis', async () => {
    const longest = '😀👍🏽🇺🇸a'.repeat((255 * 160) / 11);
    const t0 = performance.now();
    const ok = await file.api.post('/v1/messages/preview', { body: longest.slice(0, 255 * 160) });
    expect(ok.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(2_000);
    const tooLong = await file.api.post('/v1/messages/preview', { body: 'x'.repeat(255 * 160 + 1) });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body.error)).toContain('body');
    const ready = await fetch(`${file.engine.url}/health/ready`);
    expect(ready.status).toBeLessThan(500);
  });
});

describe('no development secrets in a running engine', () => {
  it('refuses provider webhooks when no auth token is set outside tests and the demo, even signed with the development token', async () => {
    const prod = await startEngine({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: '' });
    try {
      const url = `${prod.url}/v1/webhooks/twilio/inbound`;
      const params = { From: '+14155550123', To: '+18885550199', Body: 'STOP', MessageSid: 'SM1' };
      const signature = twilioSignature(
        'dev-auth-token',
        `${prod.env.PARLEY_PUBLIC_URL}/v1/webhooks/twilio/inbound`,
        params,
      );
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('webhooks_disabled');
    } finally {
      await prod.close();
    }
  });
});
