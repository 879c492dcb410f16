// What guards read off a request to decide about it: the route the router matched (never the URL
// as sent, which may be percent-encoded or in absolute form) and a Bearer token.
import type { FastifyRequest } from 'fastify';

/** Whether the route the router matched (not the URL as sent) is part of the /v1 API. */
export function isApiRoute(req: FastifyRequest): boolean {
  const pattern = req.routeOptions?.url;
  // No matched route (a 404 on its way): nothing will run, but treat it as the API's so an unknown
  // /v1 path still asks for a key first.
  if (pattern === undefined) return true;
  return pattern === '/v1' || pattern.startsWith('/v1/');
}

/** The token of an Authorization header, or undefined when absent or not a Bearer token. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
