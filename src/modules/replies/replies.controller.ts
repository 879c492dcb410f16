// The reply-facing API: the classifier users test their rules with, the inbox, and conversations.
import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { ApiError } from '../../infra/http/api-error';
import { Idempotent } from '../../infra/http/idempotency';
import { createdKey, keysetOf, page, pageQuery, timeKey, uuidKey } from '../../infra/http/pagination';
import { ApiZodBody, ApiZodQuery, ZodBody, ZodQuery } from '../../infra/http/zod';
import { normalizePhone } from '../carriers/phone-number';
import { MessagesService } from '../messages/messages.service';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace, WorkspaceRepository } from '../workspaces/workspace.repository';
import { WorkspaceSettings } from '../workspaces/workspace-settings';
import { classifyReply } from './classifier';
import { RepliesRepository } from './replies.repository';
import { isUuid } from '../../infra/ids/uuid';

const classifySchema = z
  .object({ text: z.string().max(1_600), language: z.enum(['en', 'es', 'fr']).optional() })
  .strict();
/** Newest first, paged by (created_at, id). */
const inboxQuery = pageQuery(createdKey, 100).extend({ status: z.enum(['open', 'closed']).optional() });
const inboxReplySchema = z.object({ body: z.string().min(1).max(1_600) }).strict();
/** Oldest first, paged by (at, outbound before inbound, id). */
const conversationQuery = pageQuery(z.tuple([timeKey, z.union([z.literal(0), z.literal(1)]), uuidKey]), 500);

@ApiTags('replies')
@ApiBearerAuth()
@Controller('v1')
export class RepliesController {
  constructor(
    private readonly repo: RepliesRepository,
    private readonly messages: MessagesService,
    private readonly workspaces: WorkspaceRepository,
  ) {}

  /** Exactly the classifier the router uses, with this workspace's own keywords. */
  @Post('replies/classify')
  @HttpCode(200)
  @ApiZodBody(classifySchema)
  async classify(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(classifySchema) body: z.infer<typeof classifySchema>,
  ) {
    const settings = (await this.workspaces.settings(ws.id)) as WorkspaceSettings;
    return classifyReply(body.text, { language: body.language, keywords: settings.keywords });
  }

  @Get('inbox')
  @ApiZodQuery(inboxQuery)
  async inbox(@CurrentWorkspace() ws: Workspace, @ZodQuery(inboxQuery) q: z.infer<typeof inboxQuery>) {
    const p = page(await this.repo.listInbox(ws.id, q.status, keysetOf(q)), q.limit, (i) => [
      i.sort_at,
      i.id,
    ]);
    return { data: p.data.map(({ sort_at: _sortAt, ...item }) => item), next_cursor: p.next_cursor };
  }

  /** Answers an inbox item as a transactional message from the sender the customer wrote to. */
  @Post('inbox/:id/reply')
  @HttpCode(202)
  @Idempotent()
  @ApiZodBody(inboxReplySchema)
  async reply(
    @CurrentWorkspace() ws: Workspace,
    @Param('id') id: string,
    @ZodBody(inboxReplySchema) body: z.infer<typeof inboxReplySchema>,
  ) {
    const item = isUuid(id) ? await this.repo.getInboxItem(ws.id, id) : undefined;
    if (!item) throw ApiError.notFound('inbox item', id);
    const message = await this.messages.acceptOne(ws, {
      to: item.customer,
      from: item.sender,
      body: body.body,
      metadata: { inbox_item_id: item.id, ...(item.campaign_id ? { campaign_id: item.campaign_id } : {}) },
    });
    return { inbox_item_id: item.id, message };
  }

  @Post('inbox/:id/close')
  @HttpCode(200)
  async close(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    const item = isUuid(id) ? await this.repo.closeInboxItem(ws.id, id) : undefined;
    if (!item) throw ApiError.notFound('inbox item', id);
    return item;
  }

  /** The thread with one customer, both ways, oldest first, a page at a time. */
  @Get('conversations/:e164')
  @ApiZodQuery(conversationQuery)
  async conversation(
    @CurrentWorkspace() ws: Workspace,
    @Param('e164') raw: string,
    @ZodQuery(conversationQuery) q: z.infer<typeof conversationQuery>,
  ) {
    const phone = normalizePhone(decodeURIComponent(raw));
    if (!phone.ok) throw ApiError.validation([{ path: 'e164', message: phone.detail }]);
    const rows = await this.repo.conversation(ws.id, phone.e164, keysetOf(q));
    const p = page(rows, q.limit, (r) => [r.sort_at, r.rank, r.id]);
    return {
      customer: phone.e164,
      data: p.data.map((r) => ({
        direction: r.direction,
        id: r.id,
        at: r.at,
        sender: r.sender,
        body: r.body,
        campaign_id: r.campaign_id,
        ...(r.direction === 'outbound'
          ? { status: r.status, metadata: r.metadata }
          : { intent: r.intent, keyword: r.keyword, actions: r.actions }),
      })),
      next_cursor: p.next_cursor,
    };
  }
}
