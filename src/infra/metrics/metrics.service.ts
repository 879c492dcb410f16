// One Prometheus registry per engine (not prom-client's global one, so several engines can live in
// one test process). Domain modules create their metrics against `registry`; labels are carriers,
// connectors, sender kinds and campaign types, never numbers or message ids.
import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BUILD } from '../build-info';

@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  constructor() {
    // The event-loop delay histogram samples with a timer; at prom-client's default 10 ms that is
    // a hundred wake-ups a second in an idle engine. A 100 ms timer still records every block
    // longer than its own period (the tick it delays).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    new Gauge({
      name: 'parley_build_info',
      help: 'Build of the running engine; always 1.',
      labelNames: ['version', 'commit', 'node_version'],
      registers: [this.registry],
    }).set({ version: BUILD.version, commit: BUILD.commit, node_version: process.version }, 1);
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing(name) ?? new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.existing(name) ?? new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets?: number[],
  ): Histogram<L> {
    return (
      this.existing(name) ??
      new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) })
    );
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  private existing<T>(name: string): T | undefined {
    return this.registry.getSingleMetric(name) as T | undefined;
  }
}
