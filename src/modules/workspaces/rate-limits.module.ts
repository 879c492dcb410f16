// The API's rate limits (RateLimitGuard, app-wide). A module of its own, imported right after
// WorkspacesModule, because global guards run in the order their modules are registered and this
// one needs the key and workspace that ApiKeyGuard has attached to the request.
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiRateLimiter } from './api-rate-limiter';
import { RateLimitGuard } from './rate-limit.guard';

@Module({
  providers: [ApiRateLimiter, { provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitsModule {}
