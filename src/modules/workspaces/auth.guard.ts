// Every /v1 route needs `Authorization: Bearer <key>`; the key's workspace is attached to the
// request and is the only one the handler can see (invariant 7). Provider webhooks, which carry
// the provider's signature instead, are marked @Public().
import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../../infra/http/api-error';
import { bearerToken } from './api-key';
import { Workspace } from './workspace.repository';
import { WorkspaceService } from './workspace.service';

const PUBLIC = 'parley:public';
export const Public = () => SetMetadata(PUBLIC, true);

type AuthedRequest = FastifyRequest & { workspace?: Workspace };

@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly workspaces: WorkspaceService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    if (!req.url.startsWith('/v1')) return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const key = bearerToken(req.headers.authorization);
    if (!key) throw ApiError.unauthorized();
    const ws = await this.workspaces.authenticate(key);
    if (!ws) throw ApiError.unauthorized('the API key is not valid');
    req.workspace = ws;
    return true;
  }
}

/** The authenticated workspace of the request. */
export const CurrentWorkspace = createParamDecorator((_: unknown, ctx: ExecutionContext): Workspace => {
  const ws = ctx.switchToHttp().getRequest<AuthedRequest>().workspace;
  if (!ws) throw ApiError.unauthorized();
  return ws;
});
