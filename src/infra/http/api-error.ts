// The one error shape of the API: { error: { code, message, details } } with the right status.
import { HttpException, HttpStatus } from '@nestjs/common';

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export class ApiError extends HttpException {
  constructor(
    status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(
      { error: { code, message, ...(details === undefined ? {} : { details }) } } satisfies ErrorBody,
      status,
    );
  }

  static badRequest(message: string, details?: unknown, code = 'invalid_request') {
    return new ApiError(HttpStatus.BAD_REQUEST, code, message, details);
  }
  static validation(issues: { path: string; message: string }[]) {
    const first = issues[0];
    return new ApiError(
      HttpStatus.BAD_REQUEST,
      'validation_failed',
      first ? `${first.path || 'body'}: ${first.message}` : 'invalid request',
      { issues },
    );
  }
  static unauthorized(message = 'a valid API key is required (Authorization: Bearer <key>)') {
    return new ApiError(HttpStatus.UNAUTHORIZED, 'unauthorized', message);
  }
  static notFound(what: string, id?: string) {
    return new ApiError(
      HttpStatus.NOT_FOUND,
      'not_found',
      id ? `${what} ${id} not found` : `${what} not found`,
    );
  }
  static conflict(message: string, code = 'conflict', details?: unknown) {
    return new ApiError(HttpStatus.CONFLICT, code, message, details);
  }
  static rateLimited(message: string, details?: unknown) {
    return new ApiError(HttpStatus.TOO_MANY_REQUESTS, 'rate_limited', message, details);
  }
}
