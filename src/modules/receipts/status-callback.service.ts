// Customer status callbacks: every status change of a message that has a status_callback (its own
// or its campaign's) becomes a row in the outbox and a BullMQ job that delivers the message's
// callbacks in order. Other modules that change statuses (the dispatcher, expiry) hand their
// AppliedChange list to notify() the same way the receipts consumer does.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { AppliedChange } from '../messages/message.repository';
import { NewCallback, StatusCallbackRepository } from './status-callback.repository';

export const CALLBACK_QUEUE = 'status-callbacks';
/** Attempts per job; with backoff capped at an hour they cover the 24-hour delivery window. */
export const CALLBACK_ATTEMPTS = 40;
export const CALLBACK_BACKOFF = 'capped-exponential';

export interface CallbackJob {
  messageId: string;
}

/** The JSON a customer receives for one status change. */
export function callbackBody(c: AppliedChange): string {
  return JSON.stringify({
    event: 'message.status',
    message_id: c.id,
    status: c.status,
    previous_status: c.previousStatus,
    error_code: c.errorCode,
    error_detail: c.errorDetail,
    to: c.to,
    from: c.sender,
    type: c.type,
    campaign_id: c.campaignId,
    segments: c.segments,
    occurred_at: c.at.toISOString(),
  });
}

@Injectable()
export class StatusCallbackService {
  constructor(
    private readonly repo: StatusCallbackRepository,
    @InjectQueue(CALLBACK_QUEUE) private readonly queue: Queue<CallbackJob>,
  ) {}

  /** Records and schedules a callback for each change that has a URL. Safe to call twice. */
  async notify(changes: readonly AppliedChange[]): Promise<number> {
    return this.enqueue(this.rowsOf(changes));
  }

  /**
   * Any other signed event through the same outbox (reply webhooks): `messageId` is the ordering
   * key (events of one id are delivered in order), `eventKey` makes a repeated event one delivery.
   */
  async enqueueEvent(event: NewCallback): Promise<number> {
    return this.enqueue([event]);
  }

  private rowsOf(changes: readonly AppliedChange[]): NewCallback[] {
    return changes
      .filter((c) => c.statusCallback)
      .map((c) => ({
        workspaceId: c.workspaceId,
        messageId: c.id,
        // A status is entered once per message, so (message, status) names the change.
        eventKey: `${c.id}:${c.status}`,
        url: c.statusCallback!,
        body: callbackBody(c),
      }));
  }

  private async enqueue(rows: NewCallback[]): Promise<number> {
    const inserted = await this.repo.insert(rows);
    if (!inserted.length) return 0;
    // Job ids are unique per row (never deduplicated away); the processor delivers the message's
    // oldest pending callback first, whichever job runs.
    await this.queue.addBulk(
      inserted.map((r) => ({
        name: 'deliver',
        data: { messageId: r.messageId },
        opts: {
          jobId: `cb-${r.id}`,
          attempts: CALLBACK_ATTEMPTS,
          backoff: { type: CALLBACK_BACKOFF },
          removeOnComplete: 1_000,
          removeOnFail: 5_000,
        },
      })),
    );
    return inserted.length;
  }
}
