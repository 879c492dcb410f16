// Customer status callbacks: every status change of a message that has a status_callback (its own
// or its campaign's) becomes a row in the outbox; a batch of rows becomes one BullMQ job per up to
// CALLBACK_JOB_MESSAGES messages, which delivers each message's callbacks in order. Other modules that change statuses (the dispatcher, expiry) hand their
// AppliedChange list to notify() the same way the receipts consumer does.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { AppliedChange } from '../messages/message-record';
import { NewCallback, StatusCallbackRepository } from './status-callback.repository';

export const CALLBACK_QUEUE = 'status-callbacks';
/** Attempts per job; with backoff capped at an hour they cover the 24-hour delivery window. */
export const CALLBACK_ATTEMPTS = 40;
export const CALLBACK_BACKOFF = 'capped-exponential';

/** Messages whose pending callbacks one job delivers (a receipts batch is a few jobs, not hundreds). */
export const CALLBACK_JOB_MESSAGES = 100;

export interface CallbackJob {
  /** The messages whose pending callbacks to deliver, each in order. */
  messageIds?: string[];
  /** Jobs enqueued before batching carried one message. */
  messageId?: string;
}

/** The message ids of a job, whichever shape it has. */
export const messageIdsOf = (job: CallbackJob): string[] =>
  job.messageIds ?? (job.messageId ? [job.messageId] : []);

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
    // One job per chunk of messages; its id is that of its first row, so ids stay unique (a row is
    // inserted once) and never deduplicated away. The processor delivers each message's oldest
    // pending callback first, whichever job runs.
    const messageIds = [...new Set(inserted.map((r) => r.messageId))];
    const jobs = [];
    for (let i = 0; i < messageIds.length; i += CALLBACK_JOB_MESSAGES) {
      const chunk = messageIds.slice(i, i + CALLBACK_JOB_MESSAGES);
      const first = inserted.find((r) => r.messageId === chunk[0])!;
      jobs.push({
        name: 'deliver',
        data: { messageIds: chunk },
        opts: {
          jobId: `cb-${first.id}`,
          attempts: CALLBACK_ATTEMPTS,
          backoff: { type: CALLBACK_BACKOFF },
          removeOnComplete: 1_000,
          removeOnFail: 5_000,
        },
      });
    }
    await this.queue.addBulk(jobs);
    return inserted.length;
  }
}
