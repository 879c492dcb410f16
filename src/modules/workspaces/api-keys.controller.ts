// The workspace's API keys over HTTP: list (prefix only, never the secret), create (the key is in
// that answer and nowhere else, so the create is not replayable under Idempotency-Key: the ledger
// would keep the secret), and revoke (the key of the request itself too).
import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { ApiError } from '../../infra/http/api-error';
import { keysetOf, page } from '../../infra/http/pagination';
import { ApiZodBody, ApiZodQuery, ZodBody, ZodQuery } from '../../infra/http/zod';
import { CreateKeyBody, KeyListQuery, KeyView, expiryOf, keyView } from './api-key.dto';
import { ApiKeyService } from './api-key.service';
import { CurrentWorkspace } from './auth.guard';
import type { Workspace } from './workspace.repository';

const uuid = new ParseUUIDPipe({
  exceptionFactory: () => ApiError.validation([{ path: 'id', message: 'must be a UUID' }]),
});

@ApiTags('keys')
@ApiBearerAuth()
@Controller('v1/keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeyService) {}

  /** Newest first; pages by (created_at, id). Revoked and expired keys are listed too. */
  @Get()
  @ApiZodQuery(KeyListQuery)
  async list(
    @CurrentWorkspace() ws: Workspace,
    @ZodQuery(KeyListQuery) q: z.infer<typeof KeyListQuery>,
  ): Promise<{ data: KeyView[]; next_cursor: string | null }> {
    const p = page(await this.keys.list(ws.id, keysetOf(q)), q.limit, (k) => [k.sort_at, k.id]);
    return { data: p.data.map(keyView), next_cursor: p.next_cursor };
  }

  @Post()
  @HttpCode(201)
  @ApiZodBody(CreateKeyBody)
  async create(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(CreateKeyBody) body: CreateKeyBody,
  ): Promise<KeyView & { key: string }> {
    const expiry = expiryOf(body, Date.now());
    if ('issue' in expiry) throw ApiError.validation([expiry.issue]);
    const { record, key } = await this.keys.create(ws.id, { name: body.name, expiresAt: expiry.expiresAt });
    return { ...keyView(record), key };
  }

  @Delete(':id')
  async revoke(@CurrentWorkspace() ws: Workspace, @Param('id', uuid) id: string): Promise<KeyView> {
    const r = await this.keys.revoke(ws.id, id);
    if (!r) throw ApiError.notFound('API key', id);
    return keyView(r);
  }
}
