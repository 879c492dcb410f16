// API keys over /v1/keys: listed without their secret, created with an expiry, revoked (the key of
// the request too); a revoked key fails at once on the process that revoked it and within the 5 s
// check cache on any other (a revoke written straight to the database stands in for one); an
// expired key fails; another workspace's key is not found; bad input is a 400 naming the field.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB } from '../src/infra/db/db.module';
import type { Db } from '../src/infra/db/db';
import { AUTH_CACHE_MS } from '../src/modules/workspaces/api-key-auth-cache';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';

let engine: TestEngine;
let db: Db;

beforeAll(async () => {
  engine = await startEngine();
  db = engine.app.get<Db>(DB);
});

afterAll(async () => {
  await engine?.close();
});

const del = (api: ApiClient, id: string) => api.request('DELETE', `/v1/keys/${id}`);

/** Waits for the key to be refused and answers how long that took. */
async function msUntilRefused(api: ApiClient): Promise<number> {
  const t0 = Date.now();
  await eventually(async () => (await api.get('/v1/workspace')).status === 401, AUTH_CACHE_MS + 5_000, 100);
  return Date.now() - t0;
}

describe('/v1/keys', () => {
  it('lists the workspace’s keys by prefix, never the secret, and records their use', async () => {
    const api = await engine.workspace();
    const r = await api.get('/v1/keys');
    expect(r.status).toBe(200);
    expect(r.body.next_cursor).toBeNull();
    expect(r.body.data).toHaveLength(1);
    const k = r.body.data[0];
    expect(Object.keys(k).sort()).toEqual(
      ['created_at', 'expires_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at'].sort(),
    );
    expect(k.prefix).toBe(api.key!.slice(0, 8));
    expect(k.revoked_at).toBeNull();
    expect(r.text).not.toContain(api.key!.slice(8));
    const used = await eventually(
      async () => (await api.get('/v1/keys')).body.data[0].last_used_at as string | null,
    );
    expect(Date.parse(used)).toBeGreaterThan(Date.now() - 60_000);

    await api.post('/v1/keys', {});
    const two = await api.get('/v1/keys?limit=1');
    expect(two.body.next_cursor).toEqual(expect.any(String));
    const rest = await api.get(`/v1/keys?limit=1&cursor=${two.body.next_cursor}`);
    expect(rest.body.data.map((x: { id: string }) => x.id)).toEqual([k.id]);
  });

  it('creates a key with a name and an expiry, shown once', async () => {
    const api = await engine.workspace();
    const r = await api.post('/v1/keys', { name: 'ci', expires_in_days: 30 });
    expect(r.status).toBe(201);
    expect(r.body.key).toMatch(/^prl_/);
    expect(r.body.prefix).toBe(r.body.key.slice(0, 8));
    expect(r.body.name).toBe('ci');
    expect(Math.abs(Date.parse(r.body.expires_at) - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
    const again = await api.withKey(r.body.key).get('/v1/workspace');
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(api.workspaceId);
    const list = await api.get('/v1/keys');
    expect(list.body.data).toHaveLength(2);
    expect(list.text).not.toContain(r.body.key);

    const at = new Date(Date.now() + 86_400_000).toISOString();
    const byInstant = await api.post('/v1/keys', { expires_at: at });
    expect(byInstant.status).toBe(201);
    expect(byInstant.body.expires_at).toBe(at);
    expect(byInstant.body.name).toBeNull();
  });

  it('refuses a revoked key at once on this process, the key of the request included', async () => {
    const api = await engine.workspace();
    const other = await api.post('/v1/keys', { name: 'other' });
    const otherApi = api.withKey(other.body.key);
    expect((await otherApi.get('/v1/workspace')).status).toBe(200);
    const r = await del(api, other.body.id);
    expect(r.status).toBe(200);
    expect(r.body.revoked_at).toEqual(expect.any(String));
    expect((await otherApi.get('/v1/workspace')).status).toBe(401);
    expect((await del(api, other.body.id)).body.revoked_at).toBe(r.body.revoked_at);

    const own = (await api.get('/v1/keys')).body.data.find((k: { name: string | null }) => k.name === null);
    expect((await del(api, own.id)).status).toBe(200);
    expect((await api.get('/v1/workspace')).status).toBe(401);
  });

  it('refuses a key revoked by another process within the cache bound', async () => {
    const api = await engine.workspace();
    expect((await api.get('/v1/workspace')).status).toBe(200);
    await db
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('workspace_id', '=', api.workspaceId)
      .execute();
    expect(await msUntilRefused(api)).toBeLessThanOrEqual(AUTH_CACHE_MS + 1_000);
  });

  it('refuses an expired key', async () => {
    const api = await engine.workspace();
    const soon = await api.post('/v1/keys', { expires_at: new Date(Date.now() + 1_500).toISOString() });
    expect(soon.status).toBe(201);
    const short = api.withKey(soon.body.key);
    expect((await short.get('/v1/workspace')).status).toBe(200);
    await msUntilRefused(short);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(soon.body.expires_at));
    // An expiry already past in the database is refused on first sight.
    const later = await api.post('/v1/keys', { expires_in_days: 1 });
    await db
      .updateTable('api_keys')
      .set({ expires_at: new Date(Date.now() - 1_000) })
      .where('id', '=', later.body.id)
      .execute();
    expect((await api.withKey(later.body.key).get('/v1/workspace')).status).toBe(401);
  });

  it('does not find or revoke another workspace’s key', async () => {
    const a = await engine.workspace();
    const b = await engine.workspace();
    const bKey = (await b.get('/v1/keys')).body.data[0];
    const r = await del(a, bKey.id);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
    expect((await b.get('/v1/workspace')).status).toBe(200);
    expect((await a.get('/v1/keys')).body.data.map((k: { id: string }) => k.id)).not.toContain(bKey.id);
  });

  it('answers bad input with a 400 naming the field', async () => {
    const api = await engine.workspace();
    const field = async (
      p: Promise<{ status: number; body: { error: { code: string; message: string } } }>,
    ) => {
      const r = await p;
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('validation_failed');
      return r.body.error.message.split(':')[0];
    };
    expect(await field(api.post('/v1/keys', { expires_in_days: 0 }))).toBe('expires_in_days');
    expect(await field(api.post('/v1/keys', { expires_in_days: 3651 }))).toBe('expires_in_days');
    expect(await field(api.post('/v1/keys', { expires_at: 'tomorrow' }))).toBe('expires_at');
    expect(await field(api.post('/v1/keys', { expires_at: '2020-01-01T00:00:00Z' }))).toBe('expires_at');
    expect(await field(api.post('/v1/keys', { name: '' }))).toBe('name');
    expect(
      await field(
        api.post('/v1/keys', {
          expires_at: new Date(Date.now() + 86_400_000).toISOString(),
          expires_in_days: 1,
        }),
      ),
    ).toBe('expires_in_days');
    expect(await field(api.request('DELETE', '/v1/keys/not-a-uuid'))).toBe('id');
    expect(await field(api.get('/v1/keys?limit=0'))).toBe('limit');
    expect((await api.get('/v1/keys')).body.data).toHaveLength(1);
  });
});
