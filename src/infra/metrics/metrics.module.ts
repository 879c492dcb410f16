import { Controller, Get, Global, Header, Headers, Module } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigService } from '../../config/config.service';
import { ApiError } from '../http/api-error';
import { bearerToken } from '../http/request-auth';
import { MetricsService } from './metrics.service';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Whether an Authorization header carries the token (compared in constant time). */
export function carriesToken(authorization: string | undefined, token: string): boolean {
  const given = bearerToken(authorization);
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

@ApiExcludeController()
@Controller('metrics')
class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly config: ConfigService,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(@Headers('authorization') authorization: string | undefined): Promise<string> {
    // Open unless PARLEY_METRICS_TOKEN is set; then only Prometheus with the token reads it.
    const token = this.config.env.PARLEY_METRICS_TOKEN;
    if (token !== undefined && !carriesToken(authorization, token))
      throw ApiError.unauthorized('/metrics needs Authorization: Bearer <PARLEY_METRICS_TOKEN>');
    return this.metrics.text();
  }
}

@Global()
@Module({ providers: [MetricsService], controllers: [MetricsController], exports: [MetricsService] })
export class MetricsModule {}
