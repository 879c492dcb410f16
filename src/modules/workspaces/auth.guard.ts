// Every /v1 route needs `Authorization: Bearer <key>`; the key's workspace is attached to the
// request and is the only one the handler can see (invariant 7). Provider webhooks, which carry
// the provider's signature instead, are marked @Public(). The guard decides on the route that will
// run (its pattern as the router matched it), never on the raw URL: `/%761/connectors` and an
// absolute-form `GET http://host/v1/…` reach /v1 routes too.
import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../infra/http/api-error';
import { bearerToken, isApiRoute } from '../../infra/http/request-auth';
import { Workspace } from './workspace.repository';
import { ApiKeyService } from './api-key.service';

const PUBLIC = 'parley:public';
export const Public = () => SetMetadata(PUBLIC, true);

/** A request the guard let through: its workspace and the id of the key that authenticated it. */
export type AuthedRequest = FastifyRequest & { workspace?: Workspace; apiKeyId?: string };

/** Whether the handler or its controller is marked @Public() (no API key asked). */
export function isPublicRoute(reflector: Reflector, ctx: ExecutionContext): boolean {
  return reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()]) === true;
}

export { isApiRoute };

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    if (!isApiRoute(req)) return true;
    if (isPublicRoute(this.reflector, ctx)) return true;
    const key = bearerToken(req.headers.authorization);
    if (!key) throw ApiError.unauthorized();
    // Cached per process for at most 5 s (api-key-auth-cache.ts): a key revoked or expired
    // anywhere fails here within that bound.
    const auth = await this.keys.authenticate(key);
    if (!auth) throw ApiError.unauthorized('the API key is not valid');
    req.workspace = auth.workspace;
    req.apiKeyId = auth.keyId;
    return true;
  }
}

/** The authenticated workspace of the request. */
export const CurrentWorkspace = createParamDecorator((_: unknown, ctx: ExecutionContext): Workspace => {
  const ws = ctx.switchToHttp().getRequest<AuthedRequest>().workspace;
  if (!ws) throw ApiError.unauthorized();
  return ws;
});
