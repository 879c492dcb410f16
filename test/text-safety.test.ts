// Text Postgres cannot keep as sent (U+0000, lone surrogates, U+FFFE/U+FFFF) against the real
// stack: every route answers 400 invalid_text naming the field, never a 500 from the database;
// an import refuses only the rows carrying it and goes on.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { ApiClient, ApiResponse, TestEngine, eventually, startEngine } from './support/engine';

let engine: TestEngine;
let api: ApiClient;

beforeAll(async () => {
  engine = await startEngine();
  api = await engine.workspace();
});
afterAll(async () => engine?.close());

const NUL = '\u0000';

function expectInvalidText(r: ApiResponse, field: string, reason = 'contains U+0000 (NUL)') {
  expect(r.status, r.text).toBe(400);
  expect(r.body).toEqual({
    error: { code: 'invalid_text', message: `${field}: ${reason}`, details: { field, reason } },
  });
}

async function newAudience(name = 'customers'): Promise<string> {
  const r = await api.post('/v1/audiences', { name });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function importFile(audienceId: string, body: string, type: string) {
  const res = await fetch(`${api.baseUrl}/v1/audiences/${audienceId}/imports?default_country=US`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.key}`, 'content-type': type },
    body,
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  return eventually(async () => {
    const r = await api.get(`/v1/imports/${id}`);
    return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
  }, 30_000);
}

async function detailsOf(importId: string) {
  return engine.app
    .get<Db>(DB)
    .selectFrom('import_errors')
    .select(['row_no', 'phone', 'reason', 'detail'])
    .where('import_id', '=', importId)
    .orderBy('row_no')
    .execute();
}

describe('text the database cannot keep', () => {
  it('still accepts a normal message', async () => {
    const r = await api.post('/v1/messages', { to: '+14155550101', body: 'Your order ships today 🚚' });
    expect(r.status, r.text).toBe(202);
  });

  it('refuses a NUL in a message body, a metadata value and a metadata key', async () => {
    expectInvalidText(await api.post('/v1/messages', { to: '+14155550102', body: `hi${NUL}` }), 'body');
    expectInvalidText(
      await api.post('/v1/messages', {
        to: '+14155550102',
        body: 'hi',
        metadata: { order: { note: `leave at door${NUL}` } },
      }),
      'metadata.order.note',
    );
    expectInvalidText(
      await api.post('/v1/messages', {
        to: '+14155550102',
        body: 'hi',
        metadata: { [`order${NUL}id`]: 'A-1' },
      }),
      'metadata["order\\u0000id"]',
    );
  });

  it('refuses a lone surrogate sent as a JSON escape, naming where it is', async () => {
    const r = await api.request('POST', '/v1/messages', '{"to":"+14155550103","body":"hi \\ud800 there"}', {
      'content-type': 'application/json',
    });
    expectInvalidText(r, 'body', 'contains an unpaired UTF-16 surrogate at character 3');
  });

  it('refuses one bad item of a batch by its index', async () => {
    const r = await api.post('/v1/messages/batch', {
      messages: [
        { to: '+14155550104', body: 'one' },
        { to: '+14155550105', body: `two${NUL}` },
      ],
    });
    expectInvalidText(r, 'messages[1].body');
  });

  it('refuses a NUL in audience and campaign names, workspace settings, opt-out evidence', async () => {
    expectInvalidText(await api.post('/v1/audiences', { name: `VIP${NUL}` }), 'name');
    const audience = await newAudience();
    expectInvalidText(
      await api.post('/v1/campaigns', {
        name: `Spring${NUL}sale`,
        audience_id: audience,
        from: 'default',
        type: 'marketing',
        body: 'Spring sale today. Reply STOP to opt out.',
      }),
      'name',
    );
    expectInvalidText(
      await api.request('PATCH', '/v1/workspace/settings', { brand: 'Acme', help_text: `Call us${NUL}` }),
      'help_text',
    );
    expectInvalidText(
      await api.post('/v1/opt-outs', { number: '+14155550106', evidence: `signed form${NUL}` }),
      'evidence',
    );
  });

  it('refuses an inbox reply before looking the item up', async () => {
    expectInvalidText(await api.post(`/v1/inbox/${randomUUID()}/reply`, { body: `ok${NUL}` }), 'body');
  });

  it('refuses a NUL in a segment filter value', async () => {
    const audience = await newAudience();
    const r = await api.post('/v1/segments', {
      audience_id: audience,
      filter: {
        and: [
          { field: 'country', eq: 'US' },
          { attr: 'tier', eq: `gold${NUL}` },
        ],
      },
    });
    expectInvalidText(r, 'filter.and[1].eq');
  });

  it('refuses a NUL in a route param and in a query value (both arrive decoded)', async () => {
    expectInvalidText(await api.get('/v1/contacts/%00'), 'params.e164');
    expectInvalidText(await api.get('/v1/inbox?status=open%00'), 'query.status');
    expectInvalidText(
      await api.get('/v1/opt-outs?number=%2B1415%EF%BF%BE'),
      'query.number',
      'contains the noncharacter U+FFFE',
    );
  });

  it('refuses a body nested deeper than the limit without reading it all', async () => {
    const depth = 100_000;
    const r = await api.request(
      'POST',
      '/v1/messages',
      `{"to":"+14155550107","body":"hi","metadata":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      { 'content-type': 'application/json' },
    );
    expect(r.status, r.text).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 'invalid_text',
      details: { reason: 'nested deeper than 64 levels' },
    });
  });

  it('leaves provider webhooks to keep the text they were sent', async () => {
    const r = await api.post('/v1/webhooks/no-such-connector/status', { Body: `hi${NUL}` });
    expect(r.body?.error?.code).not.toBe('invalid_text');
  });

  it('a CSV import refuses only the row with a NUL, naming its column, and completes', async () => {
    const audience = await newAudience();
    const csv = [
      'phone,first_name,tier',
      '+14155550201,Ann,gold',
      `+14155550202,B${NUL}ob,gold`,
      '+14155550203,Cy,',
    ].join('\n');
    const done = await importFile(audience, csv, 'text/csv');
    expect(done).toMatchObject({ status: 'completed', total: 3, imported: 2, invalid: 1 });
    const errors = await api.get(`/v1/imports/${done.id}/errors`);
    expect(errors.text).toBe('row,phone,reason\n3,+14155550202,INVALID_TEXT\n');
    expect(await detailsOf(done.id)).toEqual([
      {
        row_no: 3,
        phone: '+14155550202',
        reason: 'INVALID_TEXT',
        detail: 'first_name contains U+0000 (NUL)',
      },
    ]);
    expect((await api.get('/v1/contacts/%2B14155550201')).body.contact).toMatchObject({ first_name: 'Ann' });
    expect((await api.get('/v1/contacts/%2B14155550203')).status).toBe(200);
    expect((await api.get('/v1/contacts/%2B14155550202')).status).toBe(404);
  });

  it('an NDJSON import refuses rows with NUL, lone surrogates or unsafe attribute names', async () => {
    const audience = await newAudience();
    const ndjson = [
      '{"phone":"+14155550301","first_name":"Ann","tier":"gold"}',
      '{"phone":"+14155550302","note":"a\\u0000b"}',
      '{"phone":"+14155550303","tags":["ok","\\ud800"]}',
      '{"phone":"+14155550304","last_name":"\\uffff"}',
      '{"phone":"+14155550305","extra\\u0000":1}',
      '{"phone":"+1415555\\u00000306"}',
      '{"phone":"+14155550307","tags":["\\ud83d\\ude9a"]}',
    ].join('\n');
    const done = await importFile(audience, ndjson, 'application/x-ndjson');
    expect(done).toMatchObject({ status: 'completed', total: 7, imported: 2, invalid: 5 });
    expect((await detailsOf(done.id)).map((e) => [e.row_no, e.phone, e.detail])).toEqual([
      [2, '+14155550302', 'note contains U+0000 (NUL)'],
      [3, '+14155550303', 'tags[1] contains an unpaired UTF-16 surrogate at character 0'],
      [4, '+14155550304', 'last_name contains the noncharacter U+FFFF'],
      [5, '+14155550305', '["extra\\u0000"] contains U+0000 (NUL)'],
      [6, '+1415555\ufffd0306', 'phone contains U+0000 (NUL)'],
    ]);
    const kept = await api.get('/v1/contacts/%2B14155550307');
    expect(kept.body.contact.attributes).toEqual({ tags: ['\ud83d\ude9a'] });
  });
});
