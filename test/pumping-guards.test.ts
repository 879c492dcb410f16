// SMS-pumping guards against the real stack: allowed destination countries per workspace, blocked
// premium prefixes, and the daily segment budget (messages, batches, campaign plans and launches).
import { importCsv } from './support/imports';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, TestEngine, startEngine } from './support/engine';

let engine: TestEngine;
beforeAll(async () => {
  engine = await startEngine({
    PARLEY_DEFAULT_ALLOWED_COUNTRIES: 'US,CA',
    PARLEY_BLOCKED_PREFIXES: '+1900',
  });
});
afterAll(async () => engine?.close());

const GB = '+447400123456';
let n = 0;
const us = () => `+1312555${String(1000 + (n++ % 8000)).padStart(4, '0')}`;
const settings = (api: ApiClient, body: unknown) => api.request('PATCH', '/v1/workspace/settings', body);

describe('allowed destination countries', () => {
  it('refuses a number in a country the workspace may not text, naming it, until the setting allows it', async () => {
    const api = await engine.workspace();
    expect((await api.get('/v1/workspace/settings')).body.allowed_countries).toEqual(['US', 'CA']);

    const refused = await api.post('/v1/messages', { to: GB, body: 'hello' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('country_not_allowed');
    expect(refused.body.error.message).toContain('GB');
    expect(refused.body.error.details).toMatchObject({ to: GB, country: 'GB' });

    const changed = await settings(api, { allowed_countries: ['us', 'GB'] });
    expect(changed.status).toBe(200);
    expect(changed.body.allowed_countries).toEqual(['US', 'GB']);
    expect((await api.post('/v1/messages', { to: GB, body: 'hello' })).status).toBe(202);
  });

  it('refuses an unknown country code in the setting', async () => {
    const api = await engine.workspace();
    const r = await settings(api, { allowed_countries: ['US', 'XX'] });
    expect(r.status).toBe(400);
    expect(r.text).toContain('allowed_countries');
  });
});

describe('blocked prefixes', () => {
  it('refuses a number in a blocked premium range with 403 prefix_blocked', async () => {
    const api = await engine.workspace();
    const r = await api.post('/v1/messages', { to: '+19005550100', body: 'hello' });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('prefix_blocked');
    expect(r.body.error.details).toMatchObject({ prefix: '+1900' });
  });
});

describe('POST /v1/messages/batch', () => {
  it('refuses per item, the others accepted', async () => {
    const api = await engine.workspace();
    const r = await api.post('/v1/messages/batch', {
      messages: [
        { to: us(), body: 'one' },
        { to: GB, body: 'two' },
        { to: '+19005550100', body: 'three' },
        { to: us(), body: 'four' },
      ],
    });
    expect(r.status).toBe(200);
    const results = r.body.results as { index: number; status: string; error?: { code: string } }[];
    expect(results.map((x) => x.status)).toEqual(['accepted', 'invalid', 'invalid', 'accepted']);
    expect(results[1].error?.code).toBe('country_not_allowed');
    expect(results[2].error?.code).toBe('prefix_blocked');
  });

  it('refuses the items past the daily budget, in order', async () => {
    const api = await engine.workspace();
    expect((await settings(api, { daily_segment_budget: 2 })).status).toBe(200);
    const r = await api.post('/v1/messages/batch', {
      messages: [1, 2, 3].map((i) => ({ to: us(), body: `item ${i}` })),
    });
    const results = r.body.results as { status: string; error?: { code: string } }[];
    expect(results.map((x) => x.status)).toEqual(['accepted', 'accepted', 'invalid']);
    expect(results[2].error?.code).toBe('daily_budget_exhausted');
  });
});

describe('daily segment budget', () => {
  it('accepts up to the budget and refuses the request crossing it with 429', async () => {
    const api = await engine.workspace();
    const s = await settings(api, { daily_segment_budget: 3 });
    expect(s.body.daily_segment_budget).toBe(3);
    expect((await api.post('/v1/messages', { to: us(), body: 'one' })).status).toBe(202);
    // Two segments (161 GSM-7 characters): 3 of 3 used.
    expect((await api.post('/v1/messages', { to: us(), body: 'x'.repeat(161) })).status).toBe(202);
    const over = await api.post('/v1/messages', { to: us(), body: 'one more' });
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('daily_budget_exhausted');
    expect(over.body.error.details).toMatchObject({ budget: 3, used: 3 });

    // null: unlimited again.
    expect((await settings(api, { daily_segment_budget: null })).body.daily_segment_budget).toBeNull();
    expect((await api.post('/v1/messages', { to: us(), body: 'again' })).status).toBe(202);
  });
});

describe('campaigns', () => {
  async function audience(api: ApiClient, phones: string[]): Promise<string> {
    const a = await api.post('/v1/audiences', { name: `aud-${randomBytes(4).toString('hex')}` });
    const csv =
      [
        'phone,first_name,opted_in_at,consent_source',
        ...phones.map((p) => `${p},Ana,2026-01-01T00:00:00Z,web`),
      ].join('\n') + '\n';
    await importCsv(api, a.body.id, csv);
    return a.body.id;
  }

  it('excludes recipients in other countries and blocked ranges from the plan, counted', async () => {
    const api = await engine.workspace();
    const id = await audience(api, [us(), us(), GB, '+19005550101']);
    const c = await api.post('/v1/campaigns', {
      name: 'guards',
      audience_id: id,
      from: 'default',
      type: 'transactional',
      body: 'Your order shipped.',
    });
    expect(c.status).toBe(201);
    expect(c.body.plan.recipients).toBe(2);
    expect(c.body.plan.excluded).toMatchObject({ country_not_allowed: 1, prefix_blocked: 1, total: 2 });
  });

  it('refuses a launch whose plan needs more segments than the budget has left, with 409 naming them', async () => {
    const api = await engine.workspace();
    const id = await audience(api, [us(), us(), us()]);
    expect((await settings(api, { daily_segment_budget: 2 })).status).toBe(200);
    const c = await api.post('/v1/campaigns', {
      name: 'too big',
      audience_id: id,
      from: 'default',
      type: 'transactional',
      body: 'Your order shipped.',
    });
    expect(c.status).toBe(201);
    const r = await api.post(`/v1/campaigns/${c.body.id}/launch`);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('daily_budget_insufficient');
    expect(r.body.error.details).toMatchObject({ segments: 3, remaining: 2, budget: 2 });
    expect(r.body.error.message).toContain('3 segments');
  });
});
