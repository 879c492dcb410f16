// Messages left `submitting` with no outcome: the connector timed out or lost its connection after
// sending, or a dispatcher died between a chunk's fence and the carrier's answer. They are never
// sent again (the carrier may have them); a receipt resolves them if it comes (by its id, or tied
// by connector, handset and time: receipts/orphan-match.ts), and after `unknownOutcomeAfterMs` with
// none they end `unknown` with `submit_outcome_unknown` (a later receipt still moves them). Runs in every
// dispatcher; the state machine makes concurrent runs harmless. Messages this process still holds
// (waiting to retry) are skipped.
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { Logger } from 'pino';
import { AppLogger } from '../../infra/logging/app-logger';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { MessageStatusRepository } from '../messages/message-status.repository';
import { DispatchRecordRepository } from './dispatch-record.repository';
import { StatusCallbackService } from '../receipts/status-callback.service';
import { DISPATCH_TUNING, DispatchTuning } from './dispatch.tuning';
import { Dispatcher } from './dispatcher.service';

@Injectable()
export class SubmitReconciler {
  private timer?: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly final;

  constructor(
    private readonly records: DispatchRecordRepository,
    private readonly statuses: MessageStatusRepository,
    private readonly dispatcher: Dispatcher,
    @Inject(DISPATCH_TUNING) private readonly tuning: DispatchTuning,
    metrics: MetricsService,
    logger: AppLogger,
    @Optional() private readonly callbacks?: StatusCallbackService,
  ) {
    this.log = logger.child({ component: 'submit-reconciler' });
    this.final = metrics.counter(
      METRICS.messagesFinal.name,
      'Messages reaching a final status.',
      METRICS.messagesFinal.labels,
    );
  }

  start(): void {
    this.timer ??= setInterval(
      () => void this.reconcile().catch(() => undefined),
      this.tuning.reconcileEveryMs,
    );
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Ends as `unknown` messages fenced longer ago than `olderThanMs` with no outcome. Returns how many.
   * `workspaceId` limits a run to one workspace (tests, an operator's targeted run).
   */
  async reconcile(
    olderThanMs = this.tuning.unknownOutcomeAfterMs,
    opts: { workspaceId?: string } = {},
  ): Promise<number> {
    let total = 0;
    for (;;) {
      // A run for one workspace filters here, so it reads everything stuck in one page.
      const limit = opts.workspaceId ? 100_000 : 1_000;
      const page = await this.records.stuckSubmitting(new Date(Date.now() - olderThanMs), limit);
      const stuck = page.filter(
        (m) => !this.dispatcher.holds(m.id) && (!opts.workspaceId || m.workspaceId === opts.workspaceId),
      );
      if (!stuck.length) break;
      const at = new Date();
      const applied = await this.statuses.apply(
        stuck.map((m) => ({
          id: m.id,
          status: 'unknown' as const,
          errorCode: 'submit_outcome_unknown',
          detail: 'the carrier may have it: its answer was lost and no receipt came; not sent again',
          event: { submitting_at: m.submittingAt.toISOString() },
          at,
        })),
      );
      for (const a of applied) this.final.inc({ status: a.status, type: a.type });
      await this.callbacks?.notify(applied);
      total += applied.length;
      if (applied.length === 0 || page.length < limit) break;
    }
    if (total) this.log.warn({ unknown: total }, 'submits whose outcome stays unknown');
    return total;
  }
}
