// Every answer carries the standard security headers and no framework banner; the Swagger UI at
// /docs still loads under its own Content-Security-Policy; /metrics asks for PARLEY_METRICS_TOKEN
// when one is set, and PARLEY_DOCS_PUBLIC=false leaves /docs a 404.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiResponse, TestEngine, startEngine } from './support/engine';

let open: TestEngine;
let closed: TestEngine;
let api: ApiClient;
const TOKEN = 'metrics-token-for-tests-0123456789';

beforeAll(async () => {
  [open, closed] = await Promise.all([
    startEngine(),
    startEngine({ PARLEY_METRICS_TOKEN: TOKEN, PARLEY_DOCS_PUBLIC: 'false' }),
  ]);
  api = await open.workspace();
});

afterAll(async () => {
  await Promise.all([open?.close(), closed?.close()]);
});

function expectSecurityHeaders(r: ApiResponse) {
  expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  expect(r.headers.get('x-frame-options')).toBe('DENY');
  expect(r.headers.get('referrer-policy')).toBe('no-referrer');
  expect(r.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  expect(r.headers.get('x-powered-by')).toBeNull();
  expect(r.headers.get('server')).toBeNull();
  // HSTS only in production (unit spec: security-headers.spec.ts); this engine runs NODE_ENV=test.
  expect(r.headers.get('strict-transport-security')).toBeNull();
}

describe('security headers', () => {
  it('are on an API answer, an API error and /health/live', async () => {
    const ok = await api.get('/v1/workspace/settings');
    expect(ok.status).toBe(200);
    expectSecurityHeaders(ok);
    expect(ok.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const unauthorized = await api.withKey(undefined).get('/v1/workspace/settings');
    expect(unauthorized.status).toBe(401);
    expectSecurityHeaders(unauthorized);
    const live = await api.withKey(undefined).get('/health/live');
    expect(live.status).toBe(200);
    expectSecurityHeaders(live);
  });

  it('let the Swagger UI load: its scripts are files of its own, its inline styles allowed', async () => {
    const page = await api.withKey(undefined).get('/docs');
    expect(page.status).toBe(200);
    expectSecurityHeaders(page);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).toMatch(/style-src 'self' 'unsafe-inline'/);
    // No inline script (the policy would block it); each script it names (resolved as a browser
    // does from /docs) loads from here.
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attrs of scripts) {
      const src = /src="([^"]+)"/.exec(attrs)?.[1];
      expect(src).toBeDefined();
      const file = await api.withKey(undefined).get(new URL(src!, `${open.url}/docs`).pathname);
      expect(file.status).toBe(200);
    }
    expect((await api.withKey(undefined).get('/docs-json')).status).toBe(200);
  });
});

describe('/metrics and /docs settings', () => {
  const anon = () => new ApiClient(closed.url, undefined);

  it('/metrics is open without PARLEY_METRICS_TOKEN', async () => {
    const r = await api.withKey(undefined).get('/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/# TYPE/);
  });

  it('/metrics needs the bearer token when PARLEY_METRICS_TOKEN is set', async () => {
    const none = await anon().get('/metrics');
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    expect((await anon().get('/metrics', { authorization: 'Bearer wrong-token' })).status).toBe(401);
    expect((await anon().get('/metrics', { authorization: TOKEN })).status).toBe(401);
    const ok = await anon().get('/metrics', { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/# TYPE/);
  });

  it('/docs, /docs-json and /docs-yaml are 404 when PARLEY_DOCS_PUBLIC=false', async () => {
    for (const path of ['/docs', '/docs/', '/docs-json', '/docs-yaml']) {
      const r = await anon().get(path);
      expect(r.status).toBe(404);
    }
    expect((await anon().get('/health/live')).status).toBe(200);
  });
});
