import { Global, Module } from '@nestjs/common';
import { IdempotencyInterceptor, IdempotencyRepository } from './idempotency';

@Global()
@Module({
  providers: [IdempotencyRepository, IdempotencyInterceptor],
  exports: [IdempotencyRepository, IdempotencyInterceptor],
})
export class HttpInfraModule {}
