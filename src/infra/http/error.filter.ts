// Every error leaves the API in the shape of ApiError, whatever threw it (Nest, Fastify, our code).
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppLogger } from '../logging/app-logger';
import { ErrorBody } from './api-error';

const CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  503: 'unavailable',
};

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(private readonly log: AppLogger) {}

  catch(exception: unknown, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, body } = this.toBody(exception);
    if (status >= 500) this.log.error({ err: exception }, 'request failed');
    void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toBody(exception: unknown): { status: number; body: ErrorBody } {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const res = exception.getResponse() as string | { error?: { code?: unknown }; message?: unknown };
      if (typeof res === 'object' && res.error && typeof res.error === 'object' && res.error.code) {
        return { status, body: res as ErrorBody };
      }
      const message =
        typeof res === 'string'
          ? res
          : Array.isArray(res.message)
            ? res.message.join('; ')
            : typeof res.message === 'string'
              ? res.message
              : exception.message;
      return { status, body: { error: { code: CODES[status] ?? 'error', message } } };
    }
    // Fastify errors (bad JSON, body too large, unsupported content type) carry a statusCode.
    const e = exception as { statusCode?: number; message?: string; code?: string };
    if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return {
        status: e.statusCode,
        body: {
          error: {
            code: CODES[e.statusCode] ?? 'invalid_request',
            message: e.message ?? 'invalid request',
            details: e.code ? { fastify_code: e.code } : undefined,
          },
        },
      };
    }
    return {
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      body: { error: { code: 'internal', message: 'internal error' } },
    };
  }
}
