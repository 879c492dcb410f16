// POST /v1/messages (one), POST /v1/messages/batch (up to 1,000, per-item results) and
// GET /v1/messages/:id (status, parts, events) for the key's own workspace only.
import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../../infra/http/idempotency';
import { ApiZodBody, ZodBody } from '../../infra/http/zod';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace } from '../workspaces/workspace.repository';
import {
  AcceptedMessage,
  BatchItemResult,
  batchDocSchema,
  sendBatchSchema,
  sendMessageSchema,
} from './message.dto';
import { MessagesService } from './messages.service';

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @HttpCode(202)
  @Idempotent()
  @ApiOperation({ summary: 'Accept one transactional message for sending' })
  @ApiZodBody(sendMessageSchema)
  @ApiResponse({ status: 202, description: '{ id, status: "accepted", to, from, encoding, segments }' })
  @ApiResponse({ status: 400, description: 'A field is invalid; the error names it and the reason.' })
  @ApiResponse({
    status: 403,
    description: 'country_not_allowed (naming the country) or prefix_blocked: SMS-pumping guards',
  })
  @ApiResponse({ status: 429, description: "daily_budget_exhausted: the workspace's daily segment budget" })
  // Validated by the service, which applies the same rules to batch items and internal senders.
  send(@CurrentWorkspace() ws: Workspace, @Body() body: unknown): Promise<AcceptedMessage> {
    return this.messages.acceptOne(ws, body);
  }

  @Post('batch')
  @HttpCode(200)
  @Idempotent()
  @ApiOperation({
    summary: 'Accept up to 1,000 messages; one result per item, invalid items do not stop the rest',
  })
  @ApiZodBody(batchDocSchema)
  @ApiOkResponse({ description: '{ results: [{ index, id?, status: "accepted" | "invalid", error? }] }' })
  async batch(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(sendBatchSchema) body: { messages: unknown[] },
  ): Promise<{ results: BatchItemResult[] }> {
    const outcomes = await this.messages.accept(ws, body.messages);
    return {
      results: outcomes.map((o, index) =>
        o.ok
          ? { index, ...o.message }
          : {
              index,
              status: 'invalid',
              error: (o.error.getResponse() as { error: BatchItemResult['error'] }).error,
            },
      ),
    };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A message with its status, carrier, sender, parts and status events' })
  @ApiOkResponse({ description: 'The message' })
  get(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.messages.get(ws.id, id);
  }
}
