// The /v1 API belongs to the `api` role; other roles serve only health and metrics.
import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ConfigService } from '../../config/config.service';
import { ApiError } from './api-error';
import { isApiRoute } from './request-auth';

@Injectable()
export class RoleGuard implements CanActivate {
  constructor(private readonly config: ConfigService) {}

  canActivate(ctx: ExecutionContext): boolean {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    if (isApiRoute(req) && !this.config.hasRole('api')) {
      throw new ApiError(HttpStatus.NOT_FOUND, 'role_not_running', 'this process does not run the api role');
    }
    return true;
  }
}
