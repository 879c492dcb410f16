// Opt-outs from other channels (a web form, a call centre) and the list of a number's opt-outs.
import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { Idempotent } from '../../infra/http/idempotency';
import { keysetOf, page, pageQuery } from '../../infra/http/pagination';
import { ApiZodBody, ApiZodQuery, ZodBody, ZodQuery } from '../../infra/http/zod';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import type { Workspace } from '../workspaces/workspace.repository';
import { e164OrThrow, eventJson } from './consent-http';
import { ConsentRepository } from './consent.repository';
import { OptOutLedger } from './opt-out-ledger.service';

const OptOutBody = z
  .object({
    number: z.string().min(1).max(64),
    scope: z.enum(['workspace', 'sender']).default('workspace'),
    sender: z.string().min(1).max(64).optional(),
    source: z.string().min(1).max(64).default('api'),
    evidence: z.string().max(2_000).optional(),
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/, 'an ISO 3166 alpha-2 code')
      .optional(),
    occurred_at: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((b) => b.scope !== 'sender' || !!b.sender, {
    path: ['sender'],
    message: 'required when scope is "sender"',
  });

/** Newest first, paged by the ledger's event id (the order events were recorded in). */
const OptOutQuery = pageQuery(z.tuple([z.number().int().positive()]), 100).extend({
  number: z.string().min(1).max(64).optional(),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, 'an ISO 3166 alpha-2 code')
    .optional(),
});

@ApiTags('consent')
@ApiBearerAuth()
@Controller('v1/opt-outs')
export class OptOutController {
  constructor(
    private readonly ledger: OptOutLedger,
    private readonly repo: ConsentRepository,
  ) {}

  @Post()
  @HttpCode(201)
  @Idempotent()
  @ApiZodBody(OptOutBody)
  async create(@CurrentWorkspace() ws: Workspace, @ZodBody(OptOutBody) body: z.infer<typeof OptOutBody>) {
    const e164 = e164OrThrow(body.number, body.country, 'number');
    const ev = await this.ledger.recordOptOut({
      workspaceId: ws.id,
      e164,
      scope: body.scope,
      senderAddress: body.sender,
      source: body.source,
      evidence: body.evidence,
      at: body.occurred_at ? new Date(body.occurred_at) : undefined,
    });
    return eventJson(ev);
  }

  @Get()
  @ApiZodQuery(OptOutQuery)
  async list(@CurrentWorkspace() ws: Workspace, @ZodQuery(OptOutQuery) q: z.infer<typeof OptOutQuery>) {
    const e164 = q.number ? e164OrThrow(q.number, q.country, 'number') : undefined;
    const { after, take } = keysetOf(q);
    const events = await this.repo.events(ws.id, {
      e164,
      kind: 'opt_out',
      limit: take,
      beforeId: after?.[0],
    });
    const p = page(events, q.limit, (e) => [e.id]);
    return {
      data: p.data.map(eventJson),
      next_cursor: p.next_cursor,
      ...(e164 ? { state: await this.ledger.state(ws.id, e164) } : {}),
    };
  }
}
