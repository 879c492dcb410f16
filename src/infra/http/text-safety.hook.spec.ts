import { Readable } from 'node:stream';
import Fastify, { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorFilter } from './error.filter';
import { registerTextSafety } from './text-safety.hook';

let app: FastifyInstance;
let reached = 0;

beforeAll(async () => {
  app = Fastify();
  // The same answer the engine gives: Nest's error handler runs the ErrorFilter.
  const filter = new ErrorFilter({ error: () => undefined } as any);
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = filter.toBody(err);
    void reply.status(status).send(body);
  });
  app.addContentTypeParser('text/csv', (_req, payload, done) => done(null, payload as Readable));
  registerTextSafety(app);
  const ok = async () => {
    reached++;
    return { ok: true };
  };
  app.get('/v1/contacts/:e164', ok);
  app.get('/v1/inbox', ok);
  app.post('/v1/messages', ok);
  app.post('/v1/audiences/:id/imports', ok);
  app.post('/v1/webhooks/:connector/inbound', ok);
  await app.ready();
});
afterAll(async () => app?.close());

async function call(opts: InjectOptions) {
  const before = reached;
  const res = await app.inject(opts);
  return { status: res.statusCode, body: res.json(), reached: reached > before };
}

describe('text safety hook', () => {
  it('refuses a JSON body field with the API error shape, before the handler', async () => {
    const r = await call({ method: 'POST', url: '/v1/messages', payload: { to: '+1', body: 'a\u0000' } });
    expect(r).toEqual({
      status: 400,
      reached: false,
      body: {
        error: {
          code: 'invalid_text',
          message: 'body: contains U+0000 (NUL)',
          details: { field: 'body', reason: 'contains U+0000 (NUL)' },
        },
      },
    });
  });

  it('reads a lone surrogate escaped in the JSON text', async () => {
    const r = await call({
      method: 'POST',
      url: '/v1/messages',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: '{"to":"+1","metadata":{"note":"ok \\ud800"}}',
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details).toEqual({
      field: 'metadata.note',
      reason: 'contains an unpaired UTF-16 surrogate at character 3',
    });
  });

  it('refuses a body nested deeper than the limit', async () => {
    const r = await call({
      method: 'POST',
      url: '/v1/messages',
      headers: { 'content-type': 'application/json' },
      payload: `{"m":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.reason).toBe('nested deeper than 64 levels');
  });

  it('refuses route params and query values, decoded', async () => {
    const p = await call({ method: 'GET', url: '/v1/contacts/%00' });
    expect(p).toMatchObject({ status: 400, reached: false });
    expect(p.body.error.details).toEqual({ field: 'params.e164', reason: 'contains U+0000 (NUL)' });
    const q = await call({ method: 'GET', url: '/v1/inbox?status=open&tag=a&tag=%EF%BF%BF' });
    expect(q.body.error.details).toEqual({
      field: 'query.tag[1]',
      reason: 'contains the noncharacter U+FFFF',
    });
  });

  it('refuses an Idempotency-Key with unsafe text (HTTP parsers refuse NUL before this)', async () => {
    const r = await call({
      method: 'POST',
      url: '/v1/messages',
      headers: { 'idempotency-key': 'key-\uffff' },
      payload: { to: '+1', body: 'hi' },
    });
    expect(r.body.error.details).toEqual({
      field: 'Idempotency-Key',
      reason: 'contains the noncharacter U+FFFF',
    });
  });

  it('passes safe requests, streamed uploads and provider webhooks on', async () => {
    expect(
      await call({ method: 'POST', url: '/v1/messages', payload: { to: '+1', body: 'Chloé 🚚' } }),
    ).toEqual({ status: 200, reached: true, body: { ok: true } });
    expect(await call({ method: 'GET', url: '/v1/contacts/%2B14155550123?x=%F0%9F%9A%9A' })).toMatchObject({
      status: 200,
    });
    const upload = await app.inject({
      method: 'POST',
      url: '/v1/audiences/a/imports',
      headers: { 'content-type': 'text/csv' },
      payload: 'phone,first_name\n+1,\u0000\n',
    });
    expect(upload.statusCode).toBe(200);
    const hook = await call({
      method: 'POST',
      url: '/v1/webhooks/twilio/inbound?x=%00',
      payload: { Body: 'a\u0000' },
    });
    expect(hook).toMatchObject({ status: 200, reached: true });
  });
});
