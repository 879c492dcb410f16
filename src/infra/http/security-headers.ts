// The security headers of every answer (helmet): no sniffing, no framing, no referrer, HSTS in
// production, and a Content-Security-Policy. The API answers JSON, so its policy allows nothing; the
// Swagger UI at /docs loads its own scripts and styles and has inline <style> blocks, so its pages
// get a policy that allows exactly that. Fastify sends no X-Powered-By or Server banner, and helmet
// removes an X-Powered-By should anything add one.
import helmet, { FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

type Csp = Exclude<FastifyHelmetOptions['contentSecurityPolicy'], boolean | undefined>;

/** JSON answers load nothing and are never framed. */
const API_CSP: Csp = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
};

/** The Swagger UI: its files from here, its inline styles, data: images (icons). */
function docsCsp(production: boolean): Csp {
  return {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      // Outside production /docs is often plain http on localhost, where upgrading would break it.
      ...(production ? { upgradeInsecureRequests: [] } : {}),
    },
  };
}

export const DOCS_PREFIX = '/docs';

/** Registers the headers for every route; call before Nest adds its routes. */
export async function registerSecurityHeaders(fastify: FastifyInstance, production: boolean): Promise<void> {
  // Before helmet's own onRoute hook reads each route's `helmet` option.
  const docs = docsCsp(production);
  fastify.addHook('onRoute', (route) => {
    if (
      route.url === DOCS_PREFIX ||
      route.url.startsWith(`${DOCS_PREFIX}/`) ||
      route.url.startsWith('/docs-')
    )
      route.helmet = { contentSecurityPolicy: docs };
  });
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: API_CSP,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Browsers only honour HSTS over https, which production terminates in front of Parley.
    strictTransportSecurity: production ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    // Cross-origin isolation headers would only matter for pages that embed others' content.
    crossOriginEmbedderPolicy: false,
  });
}
