// Idempotency-Key on POSTs that create something: the same key with the same body replays the
// first response (status and body); the same key with another body is 409; a key whose first
// request is still running is 409 too. A failed first request frees the key for a retry.
import {
  CallHandler,
  ExecutionContext,
  Injectable,
  NestInterceptor,
  SetMetadata,
  UseInterceptors,
  applyDecorators,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants';
import { Reflector } from '@nestjs/core';
import { ApiHeader } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable, from, of, switchMap, catchError, throwError } from 'rxjs';
import { Db } from '../db/db';
import { InjectDb } from '../db/db.module';
import { ApiError } from './api-error';

const ROUTE = 'parley:idempotent-route';

/** Canonical JSON (sorted keys) so two equal bodies hash alike whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object' && !(v instanceof Buffer)) {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

@Injectable()
export class IdempotencyRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  async claim(workspaceId: string, key: string, route: string, hash: string): Promise<boolean> {
    const r = await this.db
      .insertInto('idempotency_keys')
      .values({
        workspace_id: workspaceId,
        key,
        route,
        request_hash: hash,
        status_code: null,
        response: null,
      })
      .onConflict((oc) => oc.columns(['workspace_id', 'key']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  find(workspaceId: string, key: string) {
    return this.db
      .selectFrom('idempotency_keys')
      .select(['route', 'request_hash', 'status_code', 'response'])
      .where('workspace_id', '=', workspaceId)
      .where('key', '=', key)
      .executeTakeFirst();
  }

  async complete(workspaceId: string, key: string, status: number, response: unknown) {
    await this.db
      .updateTable('idempotency_keys')
      .set({ status_code: status, response: JSON.stringify(response ?? null) })
      .where('workspace_id', '=', workspaceId)
      .where('key', '=', key)
      .execute();
  }

  async release(workspaceId: string, key: string) {
    await this.db
      .deleteFrom('idempotency_keys')
      .where('workspace_id', '=', workspaceId)
      .where('key', '=', key)
      .execute();
  }
}

@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly repo: IdempotencyRepository,
    private readonly reflector: Reflector,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<FastifyRequest & { workspace?: { id: string } }>();
    const reply = ctx.switchToHttp().getResponse<FastifyReply>();
    const raw = req.headers['idempotency-key'];
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (key === undefined || !req.workspace) return next.handle();
    if (!key.trim() || key.length > 255) {
      return throwError(() =>
        ApiError.badRequest('Idempotency-Key: must be 1 to 255 characters', { field: 'Idempotency-Key' }),
      );
    }
    const route =
      this.reflector.get<string>(ROUTE, ctx.getHandler()) ?? `${req.method} ${req.routeOptions.url}`;
    const target = `${req.method} ${req.url}`;
    const hash = createHash('sha256')
      .update(`${target}\n${canonicalJson(req.body)}`)
      .digest('hex');
    const ws = req.workspace.id;
    const status = this.reflector.get<number>(HTTP_CODE_METADATA, ctx.getHandler()) ?? 201;

    return from(this.repo.claim(ws, key, route, hash)).pipe(
      switchMap((claimed) => {
        if (claimed) {
          return next.handle().pipe(
            switchMap((body) => from(this.repo.complete(ws, key, status, body).then(() => body))),
            catchError((err) =>
              from(this.repo.release(ws, key)).pipe(switchMap(() => throwError(() => err))),
            ),
          );
        }
        return from(this.repo.find(ws, key)).pipe(
          switchMap((prior) => {
            if (!prior || prior.request_hash !== hash) {
              return throwError(() =>
                ApiError.conflict(
                  'Idempotency-Key was already used with a different request',
                  'idempotency_key_reused',
                ),
              );
            }
            if (prior.status_code === null) {
              return throwError(() =>
                ApiError.conflict(
                  'a request with this Idempotency-Key is still being processed',
                  'idempotency_in_progress',
                ),
              );
            }
            void reply.status(prior.status_code).header('idempotent-replayed', 'true');
            return of(prior.response);
          }),
        );
      }),
    );
  }
}

/** Marks a POST that creates something: honours the Idempotency-Key header. */
export const Idempotent = (route?: string) =>
  applyDecorators(
    ...(route ? [SetMetadata(ROUTE, route)] : []),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: 'Replays the first response for the same key and body; 409 for another body.',
    }),
    UseInterceptors(IdempotencyInterceptor),
  );
