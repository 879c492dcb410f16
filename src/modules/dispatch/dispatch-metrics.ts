// What the dispatcher reports to Prometheus: sends and segments per carrier, connector, sender kind
// and type; submit latency; accept-to-submit time; local and carrier throttling; retries; messages
// it ended itself (suppressed, expired, …) and the configured caps. One place, so every part counts
// the same way.
import { METRICS } from '../../infra/metrics/metric-names';
import type { MetricsService } from '../../infra/metrics/metrics.service';
import type { AppliedChange } from '../messages/message-record';

export class DispatchMetrics {
  readonly submitted;
  readonly segments;
  readonly submitLatency;
  readonly acceptToSubmit;
  readonly throttled;
  readonly retries;
  readonly suppressed;
  readonly cap;
  readonly final;

  constructor(metrics: MetricsService) {
    const M = METRICS;
    this.submitted = metrics.counter(
      M.messagesSubmitted.name,
      'Messages a carrier accepted.',
      M.messagesSubmitted.labels,
    );
    this.segments = metrics.counter(
      M.segmentsSubmitted.name,
      'Segments a carrier accepted.',
      M.segmentsSubmitted.labels,
    );
    this.submitLatency = metrics.histogram(
      M.submitLatency.name,
      'Time from submit to the carrier answering.',
      M.submitLatency.labels,
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    );
    this.acceptToSubmit = metrics.histogram(
      M.acceptToSubmit.name,
      'Time from acceptance to the carrier taking the message.',
      M.acceptToSubmit.labels,
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    );
    this.throttled = metrics.counter(
      M.throttled.name,
      'Waits for segment tokens (source=local), for the shared send window (source=window), and carrier throttling answers (source=carrier).',
      M.throttled.labels,
    );
    this.retries = metrics.counter(
      M.retries.name,
      'Submits retried after a definite non-acceptance.',
      M.retries.labels,
    );
    this.suppressed = metrics.counter(
      M.suppressed.name,
      'Messages not sent at dispatch time.',
      M.suppressed.labels,
    );
    this.cap = metrics.gauge(
      M.carrierCap.name,
      'Configured carrier cap, segments per second.',
      M.carrierCap.labels,
    );
    this.final = metrics.counter(
      M.messagesFinal.name,
      'Messages reaching a final status.',
      M.messagesFinal.labels,
    );
  }

  /** Statuses the dispatcher wrote: final ones are counted, and those it ended itself by reason. */
  applied(changes: readonly AppliedChange[]): void {
    for (const a of changes) {
      if (a.status === 'submitted' || a.status === 'queued') continue;
      this.final.inc({ status: a.status, type: a.type });
      if (a.status === 'suppressed' || a.status === 'expired' || a.status === 'rejected')
        this.suppressed.inc({ reason: a.errorCode ?? a.status, type: a.type });
    }
  }
}
