// What the dispatcher reports to Prometheus: sends and segments per carrier, connector, sender kind
// and type; submit latency; accept-to-submit time; local and carrier throttling; retries; messages
// it ended itself (suppressed, expired, …) and the configured caps. One place, so every part counts
// the same way.
import { ChildCache } from '../../infra/metrics/child-cache';
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
  private readonly sentChildren: ChildCache<{
    submitted: { inc(n?: number): void };
    segments: { inc(n?: number): void };
    acceptToSubmit: { observe(v: number): void };
  }>;
  private readonly latencyChildren: ChildCache<{ observe(v: number): void }>;

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
    this.sentChildren = new ChildCache((l) => {
      const { encoding: _encoding, ...perMessage } = l;
      return {
        submitted: this.submitted.labels(perMessage),
        segments: this.segments.labels(l),
        acceptToSubmit: this.acceptToSubmit.labels({ type: l.type }),
      };
    });
    this.latencyChildren = new ChildCache((l) => this.submitLatency.labels(l));
  }

  /** A message the carrier took, with its segments and how long it waited since it was accepted. */
  accepted(
    m: { carrier: string; connector: string; senderKind: string; type: string; encoding: string },
    segments: number,
    acceptToSubmitSeconds: number,
  ): void {
    const c = this.sentChildren.get(
      `${m.carrier}|${m.connector}|${m.senderKind}|${m.type}|${m.encoding}`,
      () => ({
        carrier: m.carrier,
        connector: m.connector,
        sender_kind: m.senderKind,
        type: m.type,
        encoding: m.encoding,
      }),
    );
    c.submitted.inc();
    c.segments.inc(segments);
    c.acceptToSubmit.observe(acceptToSubmitSeconds);
  }

  /** How long one submit waited for the carrier's answer. */
  answered(carrier: string, connector: string, seconds: number): void {
    this.latencyChildren.get(`${carrier}|${connector}`, () => ({ carrier, connector })).observe(seconds);
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
