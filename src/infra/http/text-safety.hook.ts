// Refuses a request carrying text the engine cannot keep as sent (see text-safety.ts) with a 400
// naming the field, before any guard, pipe or handler runs: every route that stores a string
// would otherwise answer a NUL with PostgreSQL's error as a 500, or store a lone surrogate as
// U+FFFD. One hook covers the route params, the query, the Idempotency-Key and JSON bodies.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './api-error';
import { UnsafeText, findUnsafeText, unsafeTextReason } from '../text/text-safety';

/**
 * Carriers post a customer's text to these as they received it: refusing it would lose the
 * message, so those routes keep it and show unsafe characters replaced instead.
 */
const KEPT_AS_SENT = '/v1/webhooks/';

function isJson(contentType: string | undefined): boolean {
  const essence = (contentType ?? '').split(';', 1)[0].trim().toLowerCase();
  return essence === 'application/json' || essence.endsWith('+json');
}

/** The first text of the request that cannot be kept as sent, in URL order, then the body. */
export function unsafeTextOf(req: FastifyRequest): UnsafeText | undefined {
  // Fastify's query and params are dictionaries without Object.prototype; copies read as JSON.
  const found =
    findUnsafeText({ ...(req.params as object) }, 'params') ??
    findUnsafeText({ ...(req.query as object) }, 'query');
  if (found) return found;
  const key = req.headers['idempotency-key'];
  for (const k of Array.isArray(key) ? key : key === undefined ? [] : [key]) {
    const reason = unsafeTextReason(k);
    if (reason !== undefined) return { path: 'Idempotency-Key', reason };
  }
  // A streamed upload (a Readable) is checked row by row by its import; a body some other parser
  // left as a string or a Buffer is not a document this reads.
  const body: unknown = req.body;
  if (typeof body === 'string' && !isJson(req.headers['content-type'])) return undefined;
  const inBody = findUnsafeText(body, '');
  return inBody && { path: inBody.path || 'body', reason: inBody.reason };
}

export function invalidText(found: UnsafeText): ApiError {
  return ApiError.badRequest(
    `${found.path}: ${found.reason}`,
    { field: found.path, reason: found.reason },
    'invalid_text',
  );
}

/**
 * Adds the check to every route (register it before the routes). preValidation runs once the
 * body is parsed and before Nest's guards and pipes; the thrown error reaches the app's error
 * handler, so the answer has the API's one error shape.
 */
export function registerTextSafety(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', async (req) => {
    const route = req.routeOptions.url ?? req.url;
    if (route.startsWith(KEPT_AS_SENT)) return;
    const found = unsafeTextOf(req);
    if (found) throw invalidText(found);
  });
}
