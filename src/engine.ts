// Builds and starts one engine process (any set of roles) on Fastify. Used by main.ts, the CLI's
// demo and the integration tests, so all three run exactly the same composition.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { ParleyEnv } from './config/config.schema';
import { ErrorFilter } from './infra/http/error.filter';
import { registerSecurityHeaders } from './infra/http/security-headers';
import { registerTextSafety } from './infra/http/text-safety.hook';
import { AppLogger, createPino, requestContext } from './infra/logging/app-logger';
import { BUILD } from './infra/build-info';

export interface Engine {
  app: NestFastifyApplication;
  url: string;
  logger: AppLogger;
  close(): Promise<void>;
}

/** The largest JSON body any route takes. */
const JSON_BODY_LIMIT = 1024 * 1024;
/** Content types whose bodies reach handlers as a stream (imports are never held whole). */
export const STREAMED_TYPES = ['text/csv', 'application/x-ndjson', 'application/ndjson', 'text/plain'];

export async function createEngine(env: ParleyEnv, opts: { listen?: boolean } = {}): Promise<Engine> {
  const pino = createPino(env.PARLEY_LOG_LEVEL, env.PARLEY_ROLES.join(','), env.PARLEY_LOG_FILE);
  const logger = new AppLogger(pino);
  const adapter = new FastifyAdapter({
    loggerInstance: pino,
    // JSON bodies: 1 MiB (a batch of 1,000 ordinary messages is about 300 KiB). Imports stream
    // (STREAMED_TYPES below) under their own limit.
    bodyLimit: JSON_BODY_LIMIT,
    // A client's x-request-id becomes the log id only when short and printable; otherwise ours.
    requestIdHeader: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\x21-\x7e]{1,64}$/.test(given) ? given : randomUUID();
    },
    forceCloseConnections: false,
    return503OnClosing: true,
  });
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (req, reply, done) => {
    void reply.header('x-request-id', req.id);
    // Only API calls carry a request id into the logs. The first AsyncLocalStorage run turns on
    // promise hooks for the whole process, which then cost every promise something: a role that
    // only answers health checks and scrapes (a dispatcher) must never pay that.
    if (req.url.startsWith('/v1')) requestContext.run({ reqId: String(req.id) }, done);
    else done();
  });
  fastify.addContentTypeParser(STREAMED_TYPES, (_req, payload, done) => done(null, payload as Readable));
  // Before Nest adds its routes, so the check and the headers cover each of them.
  registerTextSafety(fastify);
  await registerSecurityHeaders(fastify, env.NODE_ENV === 'production');
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(env, { logger }), adapter, {
    logger,
    bufferLogs: false,
    abortOnError: false,
  });
  app.useGlobalFilters(new ErrorFilter(logger));

  // The API's documentation is public unless PARLEY_DOCS_PUBLIC=false, which leaves /docs a 404.
  if (env.PARLEY_DOCS_PUBLIC) {
    const doc = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Parley API')
        .setDescription(
          'Self-hosted two-way SMS engine. Every /v1 route needs `Authorization: Bearer <api key>`.',
        )
        .setVersion(BUILD.version)
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('docs', app, doc, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  }

  await app.init();
  let url = '';
  if (opts.listen !== false) {
    await app.listen({ port: env.PORT, host: env.PARLEY_HOST });
    const addr = fastify.server.address();
    url = typeof addr === 'object' && addr ? `http://${env.PARLEY_HOST}:${addr.port}` : String(addr);
  }
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    logger,
    // The log file's last lines are written before close resolves.
    close: () => (closing ??= app.close().finally(() => new Promise<void>((r) => pino.flush(() => r())))),
  };
}
