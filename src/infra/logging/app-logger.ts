// Structured JSON logs (pino). Every line written while an HTTP request is being handled carries
// that request's id, taken from an AsyncLocalStorage set by the API's onRequest hook.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, LoggerService } from '@nestjs/common';
import pino, { Logger } from 'pino';

export const requestContext = new AsyncLocalStorage<{ reqId: string }>();

/** The engine's logger: JSON lines to stdout, or appended to `file` when one is given. */
export function createPino(level: string, role = 'all', file?: string): Logger {
  return pino(
    {
      level,
      base: { service: 'parley', role, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin() {
        const ctx = requestContext.getStore();
        return ctx ? { reqId: ctx.reqId } : {};
      },
    },
    file ? pino.destination({ dest: file, mkdir: true, sync: false }) : undefined,
  );
}

@Injectable()
export class AppLogger implements LoggerService {
  constructor(readonly pino: Logger) {}

  child(bindings: Record<string, unknown>): Logger {
    return this.pino.child(bindings);
  }

  info(obj: unknown, msg?: string) {
    this.write('info', obj, msg);
  }
  log(message: unknown, context?: string) {
    this.write('info', message, undefined, context);
  }
  error(message: unknown, trace?: string, context?: string) {
    if (message instanceof Error) this.pino.error({ err: message, context }, message.message);
    else this.write('error', trace ? { msg: message, trace } : message, undefined, context);
  }
  warn(message: unknown, context?: string) {
    this.write('warn', message, undefined, context);
  }
  debug(message: unknown, context?: string) {
    this.write('debug', message, undefined, context);
  }
  verbose(message: unknown, context?: string) {
    this.write('trace', message, undefined, context);
  }

  private write(level: pino.Level, obj: unknown, msg?: string, context?: string) {
    if (typeof obj === 'string') this.pino[level](context ? { context } : {}, obj);
    else if (obj instanceof Error) this.pino[level]({ err: obj, context }, msg ?? obj.message);
    else this.pino[level]({ ...(obj as object), ...(context ? { context } : {}) }, msg);
  }
}
