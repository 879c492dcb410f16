// Runs after ApiKeyGuard (its module comes after WorkspacesModule in app.module.ts): every /v1
// request spends one request of its API key's budget and one of its workspace's; a provider
// webhook (public, no key) spends one of its connector's. Every answer that was counted carries
// RateLimit-Limit/-Remaining/-Reset (the tightest budget); a refusal is 429 with Retry-After.
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply } from 'fastify';
import { ApiError } from '../../infra/http/api-error';
import { ApiRateLimiter, Budget } from './api-rate-limiter';
import { AuthedRequest, isApiRoute, isPublicRoute } from './auth.guard';
import { bindingBudget, rateLimitHeaders, secondsUntil } from './rate-limits';

const WEBHOOKS = '/v1/webhooks/';

@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: ApiRateLimiter,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const req = ctx.switchToHttp().getRequest<AuthedRequest>();
    if (!isApiRoute(req)) return true;
    const budgets = this.budgetsOf(req, isPublicRoute(this.reflector, ctx));
    if (budgets.length === 0) return true;
    const states = await this.limiter.consume(budgets);
    const binding = states && bindingBudget(states);
    if (!binding) return true; // Redis did not answer: fail open (ApiRateLimiter logs it)
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    // Set before any error is thrown: the error filter keeps the reply's headers.
    void reply.headers(rateLimitHeaders(binding));
    if (binding.allowed) return true;
    const retryAfter = secondsUntil(binding.msBeforeReset);
    void reply.header('Retry-After', String(retryAfter));
    throw ApiError.rateLimited(`too many requests for this ${SCOPE_NAMES[binding.scope]}`, {
      scope: binding.scope,
      limit_per_second: binding.limit,
      retry_after_seconds: retryAfter,
    });
  }

  private budgetsOf(req: AuthedRequest, isPublic: boolean): Budget[] {
    if (isPublic) {
      const pattern = req.routeOptions?.url ?? '';
      const connector = (req.params as Record<string, string | undefined> | undefined)?.connector;
      return pattern.startsWith(WEBHOOKS) && connector ? [{ scope: 'webhook', id: connector }] : [];
    }
    // No workspace here means ApiKeyGuard refused already or the route is not the API's.
    if (!req.workspace || !req.apiKeyId) return [];
    return [
      { scope: 'key', id: req.apiKeyId },
      { scope: 'workspace', id: req.workspace.id },
    ];
  }
}

const SCOPE_NAMES = { key: 'API key', workspace: 'workspace', webhook: 'connector' } as const;
