import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerSecurityHeaders } from './security-headers';

async function appFor(production: boolean) {
  const app = Fastify();
  await registerSecurityHeaders(app, production);
  app.get('/v1/things', async () => ({ ok: true }));
  app.get('/docs', async (_req, reply) => reply.type('text/html').send('<html></html>'));
  app.get('/docs/*', async () => 'asset');
  await app.ready();
  return app;
}

describe('registerSecurityHeaders', () => {
  it('sends HSTS and upgrades /docs requests only in production', async () => {
    const prod = await appFor(true);
    const dev = await appFor(false);
    const p = await prod.inject({ url: '/v1/things' });
    expect(p.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect((await prod.inject({ url: '/docs' })).headers['content-security-policy']).toMatch(
      /upgrade-insecure-requests/,
    );
    const d = await dev.inject({ url: '/v1/things' });
    expect(d.headers['strict-transport-security']).toBeUndefined();
    expect((await dev.inject({ url: '/docs' })).headers['content-security-policy']).not.toMatch(
      /upgrade-insecure-requests/,
    );
    await Promise.all([prod.close(), dev.close()]);
  });

  it('gives the API a policy that allows nothing and /docs one that allows its own files', async () => {
    const app = await appFor(false);
    const api = await app.inject({ url: '/v1/things' });
    expect(api.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
    );
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['x-frame-options']).toBe('DENY');
    expect(api.headers['referrer-policy']).toBe('no-referrer');
    expect(api.headers['x-powered-by']).toBeUndefined();
    for (const url of ['/docs', '/docs/swagger-ui.css']) {
      const csp = (await app.inject({ url })).headers['content-security-policy'];
      expect(csp).toMatch(/script-src 'self'/);
      expect(csp).toMatch(/style-src 'self' 'unsafe-inline'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
    }
    // A 404 (no route) still carries the API's headers.
    expect((await app.inject({ url: '/nope' })).headers['x-content-type-options']).toBe('nosniff');
    await app.close();
  });
});
