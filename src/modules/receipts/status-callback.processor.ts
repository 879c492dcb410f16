// Delivers status callbacks: a job names a batch of messages; for each, the oldest pending callback
// first, signed with the workspace's secrets. A failure stops that message's queue (later callbacks
// wait behind it, which keeps them in order); the job keeps only the messages that failed and BullMQ
// retries it with capped exponential backoff until 24 hours passed.
import { InjectQueue, OnWorkerEvent, Processor } from '@nestjs/bullmq';
import { Job, Queue } from 'bullmq';
import { lookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { ConfigService } from '../../config/config.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { RoleWorker } from '../../infra/queue/role-worker';
import { checkCallbackUrl, refuseResolved } from '../../infra/http/callback-url';
import { PARLEY_SIGNATURE_HEADER, signParleyPayload } from './parley-signature';
import { StatusCallbackRepository } from './status-callback.repository';
import {
  CALLBACK_ATTEMPTS,
  CALLBACK_BACKOFF,
  CALLBACK_QUEUE,
  CallbackJob,
  messageIdsOf,
} from './status-callback.service';
import { WebhookSecretService } from './webhook-secret.service';

/** Messages of one job delivered at a time (each message's own callbacks stay sequential). */
const DELIVERIES_IN_PARALLEL = 10;
/** How long a customer's endpoint gets to answer. */
const TIMEOUT_MS = 10_000;
export const CALLBACK_DEADLINE_MS = 24 * 60 * 60 * 1000;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 60 * 60 * 1000;

/** 1 s, 2 s, 4 s … capped at an hour, with a little jitter so failed endpoints are not stampeded. */
export function callbackBackoff(attemptsMade: number): number {
  const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(d * (0.9 + Math.random() * 0.2));
}

class DeliveryError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

/**
 * In production every address a name resolves to is vetted when the connection is made, so a
 * name that resolved to a public address at acceptance cannot be re-pointed inside (DNS rebinding).
 */
const guardedLookup: LookupFunction = (hostname, options, callback) => {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 4);
    const list = addresses as unknown as { address: string; family: number }[];
    const refusal = refuseResolved(list.map((a) => a.address));
    if (refusal) return callback(Object.assign(new Error(refusal), { code: 'EREFUSED_SSRF' }), '', 4);
    if ((options as { all?: boolean }).all)
      return (callback as unknown as (e: null, all: { address: string; family: number }[]) => void)(
        null,
        list,
      );
    callback(null, list[0].address, list[0].family);
  });
};

function post(url: URL, body: string, headers: Record<string, string>, production: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() },
        timeout: TIMEOUT_MS,
        ...(production ? { lookup: guardedLookup } : {}),
      },
      (res) => {
        // Drain so the socket is freed; the answer's body is not ours to keep.
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new DeliveryError(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

@Processor(CALLBACK_QUEUE, {
  autorun: false,
  concurrency: 20,
  settings: { backoffStrategy: (attemptsMade: number) => callbackBackoff(attemptsMade) },
})
export class StatusCallbackProcessor extends RoleWorker {
  protected readonly role = 'receipts' as const;
  private readonly deliveries;

  constructor(
    config: ConfigService,
    private readonly repo: StatusCallbackRepository,
    private readonly secrets: WebhookSecretService,
    private readonly log: AppLogger,
    metrics: MetricsService,
    @InjectQueue(CALLBACK_QUEUE) private readonly queue: Queue<CallbackJob>,
  ) {
    super(config);
    this.deliveries = metrics.counter(
      METRICS.callbacks.name,
      'Status callback delivery attempts by outcome (delivered, failed = will retry, abandoned, refused).',
      METRICS.callbacks.labels,
    );
  }

  /**
   * A job out of attempts while its callback is still pending (several jobs of one message spent
   * attempts on the same head) gets a successor an hour later, so the 24-hour window is always
   * used in full; past it, the successor abandons the callback.
   */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<CallbackJob> | undefined) {
    if (!job || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    await this.queue
      .add('deliver', job.data, {
        jobId: `${job.id}-again-${job.attemptsMade}`,
        delay: BACKOFF_MAX_MS,
        attempts: CALLBACK_ATTEMPTS,
        backoff: { type: CALLBACK_BACKOFF },
      })
      .catch((err) => this.log.error({ err, job: job.id }, 'could not reschedule a status callback'));
  }

  async process(job: Job<CallbackJob>): Promise<string> {
    if (
      job.opts.backoff &&
      typeof job.opts.backoff === 'object' &&
      job.opts.backoff.type !== CALLBACK_BACKOFF
    ) {
      this.log.warn({ job: job.id }, 'callback job with an unexpected backoff type');
    }
    const ids = messageIdsOf(job.data);
    const failed: { id: string; err: unknown }[] = [];
    let delivered = 0;
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        try {
          delivered += await this.deliverMessage(id);
        } catch (err) {
          failed.push({ id, err });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELIVERIES_IN_PARALLEL, ids.length) }, worker));
    if (failed.length) {
      // The retry (after BullMQ's backoff) is only about the messages that failed.
      const failedIds = new Set(failed.map((f) => f.id));
      const keep = ids.filter((id) => failedIds.has(id));
      await job.updateData({ messageIds: keep });
      throw failed[0].err;
    }
    return `delivered ${delivered} for ${ids.length} messages`;
  }

  /** Delivers one message's pending callbacks in order; throws at the first that fails. */
  private async deliverMessage(messageId: string): Promise<number> {
    const production = this.config.env.NODE_ENV === 'production';
    let delivered = 0;
    // Keep going while this worker holds the message's head: later callbacks whose own jobs found
    // the head busy rely on it.
    for (;;) {
      const c = await this.repo.claimNext(messageId, TIMEOUT_MS * 3);
      if (c === undefined || c === 'busy') return delivered;
      if (Date.now() - c.createdAt.getTime() > CALLBACK_DEADLINE_MS) {
        await this.repo.finish(c.id, 'abandoned', undefined, 'not delivered within 24 hours');
        this.deliveries.inc({ outcome: 'abandoned' });
        continue;
      }
      const checked = checkCallbackUrl(c.url, { production });
      if (!checked.ok) {
        await this.repo.finish(c.id, 'refused', undefined, `status_callback ${checked.reason}`);
        this.deliveries.inc({ outcome: 'refused' });
        continue;
      }
      const secrets = await this.secrets.valid(c.workspaceId);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'Parley-Callbacks/1',
        [PARLEY_SIGNATURE_HEADER.toLowerCase()]: signParleyPayload(
          secrets.map((s) => s.secret),
          c.body,
        ),
        'parley-delivery': String(c.id),
      };
      let status: number | undefined;
      try {
        status = await post(checked.url, c.body, headers, production);
        if (status < 200 || status >= 300) throw new DeliveryError(`answered ${status}`, status);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === 'EREFUSED_SSRF') {
          await this.repo.finish(c.id, 'refused', undefined, e.message);
          this.deliveries.inc({ outcome: 'refused' });
          continue;
        }
        await this.repo.failed(c.id, status, e.message);
        this.deliveries.inc({ outcome: 'failed' });
        // Throwing hands the job to BullMQ's backoff; the callback stays at the head.
        throw err;
      }
      await this.repo.finish(c.id, 'delivered', status);
      this.deliveries.inc({ outcome: 'delivered' });
      delivered++;
    }
  }
}
