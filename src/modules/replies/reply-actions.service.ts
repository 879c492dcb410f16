// What the reply router does once replies are decided and their consent changes committed: records
// campaign responses and inbox items, sends auto-replies through the API path (one per inbound
// message, by a deterministic id), and enqueues the workspace's webhooks with the order the reply
// was matched to.
import { Injectable } from '@nestjs/common';
import { deterministicId } from '../../infra/ids/deterministic-id';
import { AppLogger } from '../../infra/logging/app-logger';
import { MessagesService } from '../messages/messages.service';
import { renderTemplate } from '../templates/template';
import { WorkspaceRepository } from '../workspaces/workspace.repository';
import type { Routed } from './follow-ups';
import { RepliesRepository } from './replies.repository';
import { ReplyWebhooks } from './reply-webhooks.service';

@Injectable()
export class ReplyActions {
  constructor(
    private readonly repo: RepliesRepository,
    private readonly messages: MessagesService,
    private readonly workspaces: WorkspaceRepository,
    private readonly webhooks: ReplyWebhooks,
    private readonly log: AppLogger,
  ) {}

  /** Records responses and inbox items, sends auto-replies and enqueues webhooks for routed replies. */
  async carryOut(routed: Routed[]): Promise<void> {
    const responses: Parameters<RepliesRepository['recordResponses']>[0] = [];
    const inbox: Parameters<RepliesRepository['insertInboxItems']>[0] = [];
    const byWorkspace = new Map<
      string,
      { inputs: unknown[]; ids: string[]; optOutConfirmation: boolean[] }
    >();

    for (const r of routed) {
      const ws = r.workspaceId!;
      const context = this.contextOf(r);
      for (const a of r.decision!.actions) {
        if (a.kind === 'record' && r.match?.campaignId) {
          responses.push({
            workspaceId: ws,
            campaignId: r.match.campaignId,
            messageId: r.match.messageId,
            e164: r.env.from,
            kind: a.value === 'confirmation' ? 'confirmed' : 'declined',
            inboundId: r.env.id,
            at: new Date(r.env.receivedAt),
          });
        } else if (a.kind === 'inbox') {
          inbox.push({
            workspaceId: ws,
            inboundId: r.env.id,
            customer: r.env.from,
            sender: r.env.to,
            campaignId: r.match?.campaignId ?? null,
            messageId: r.match?.messageId ?? null,
            intent: r.decision!.intent,
            body: r.env.body,
            context,
          });
        } else if (a.kind === 'auto_reply') {
          const text = renderTemplate(a.template, { ...(r.match?.metadata ?? {}) }).text.trim();
          if (!text) continue;
          const group = byWorkspace.get(ws) ?? { inputs: [], ids: [], optOutConfirmation: [] };
          // One auto-reply per inbound message, even if this batch is delivered again.
          group.ids.push(deterministicId('auto-reply', r.env.id));
          group.inputs.push({
            to: r.env.from,
            from: r.env.to,
            body: text,
            metadata: { in_reply_to: r.env.id, purpose: a.purpose },
          });
          group.optOutConfirmation.push(a.purpose === 'opt_out_confirmation');
          byWorkspace.set(ws, group);
        } else if (a.kind === 'webhook') {
          await this.webhooks.enqueue(ws, a.url, {
            type: 'reply.received',
            reply: {
              id: r.env.id,
              from: r.env.from,
              to: r.env.to,
              body: r.env.body,
              received_at: new Date(r.env.receivedAt).toISOString(),
              intent: r.decision!.intent,
              keyword: r.classification.keyword ?? null,
              language: r.classification.language,
            },
            ...context,
          });
        }
      }
    }
    await this.repo.recordResponses(responses);
    await this.repo.insertInboxItems(inbox);
    for (const [wsId, g] of byWorkspace) {
      const ws = await this.workspaces.findById(wsId);
      if (!ws) continue;
      const outcomes = await this.messages.accept(ws, g.inputs, {
        autoReply: true,
        ids: g.ids,
        optOutConfirmation: g.optOutConfirmation,
      });
      outcomes.forEach((o, i) => {
        if (!o.ok) this.log.warn({ err: o.error.getResponse(), id: g.ids[i] }, 'auto-reply refused');
      });
    }
  }

  private contextOf(r: Routed): Record<string, unknown> {
    if (!r.match) return { matched: null };
    return {
      matched: {
        message_id: r.match.messageId,
        campaign_id: r.match.campaignId,
        type: r.match.type,
        sent_at: r.match.acceptedAt.toISOString(),
        metadata: r.match.metadata,
      },
      ...(r.match.metadata && Object.keys(r.match.metadata).length ? { order: r.match.metadata } : {}),
    };
  }
}
