// Reply webhooks (a campaign handler's `webhook`, the workspace's reply_webhook_url): delivered
// through the same signed, retried, ordered outbox as status callbacks, keyed by the inbound id.
import { Injectable } from '@nestjs/common';
import { StatusCallbackService } from '../receipts/status-callback.service';

@Injectable()
export class ReplyWebhooks {
  constructor(private readonly callbacks: StatusCallbackService) {}

  async enqueue(
    workspaceId: string,
    url: string,
    payload: Record<string, unknown> & { reply: { id: string; [field: string]: unknown } },
  ): Promise<void> {
    await this.callbacks.enqueueEvent({
      workspaceId,
      messageId: payload.reply.id,
      eventKey: `${payload.reply.id}:reply:${url}`,
      url,
      body: JSON.stringify(payload),
    });
  }
}
