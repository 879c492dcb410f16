// Connectors' live state for GET /v1/connectors. Connectors run in dispatcher processes, so each of
// those publishes its connectors' state to Redis every few seconds (expiring when the process goes
// away); the API sums what every dispatcher reports, plus its own connectors when it runs one too.
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { ConfigService } from '../../config/config.service';
import { InjectRedis } from '../../infra/redis/redis.module';
import { ConnectorRegistry } from './connector-registry.service';
import type { ConnectorState } from './connector';

const PUBLISH_EVERY_MS = 2_000;
const TTL_MS = 6_000;

export interface ConnectorView {
  id: string;
  kind: ConnectorState['kind'];
  up: boolean;
  binds_up: number;
  binds_configured: number;
  in_flight: number;
  window: number;
  throttled: boolean;
  /** Dispatcher processes reporting this connector. */
  processes: number;
}

/** Adds up the states several processes report for one connector. */
export function combineStates(
  cfg: { id: string; kind: ConnectorState['kind'] },
  states: ConnectorState[],
): ConnectorView {
  const sum = (f: (s: ConnectorState) => number) => states.reduce((n, s) => n + f(s), 0);
  const bindsUp = sum((s) => s.bindsUp);
  return {
    id: cfg.id,
    kind: cfg.kind,
    up: bindsUp > 0,
    binds_up: bindsUp,
    binds_configured: sum((s) => s.bindsConfigured),
    in_flight: sum((s) => s.inFlight),
    window: sum((s) => s.window),
    throttled: states.some((s) => s.throttled),
    processes: states.length,
  };
}

@Injectable()
export class ConnectorStateService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly instance = randomUUID();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly registry: ConnectorRegistry,
    private readonly config: ConfigService,
    @InjectRedis() private readonly redis: Redis,
  ) {}

  private key(connectorId: string, instance: string = this.instance) {
    return `${this.config.env.KAFKA_TOPIC_PREFIX}parley:connector-state:${connectorId}:${instance}`;
  }

  onApplicationBootstrap() {
    if (!this.config.hasRole('dispatcher')) return;
    this.timer = setInterval(() => void this.publish().catch(() => undefined), PUBLISH_EVERY_MS);
    this.timer.unref();
  }

  async onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
  }

  private async publish() {
    const pipe = this.redis.multi();
    for (const c of this.registry.all()) pipe.set(this.key(c.id), JSON.stringify(c.state()), 'PX', TTL_MS);
    await pipe.exec();
  }

  async list(): Promise<ConnectorView[]> {
    const out: ConnectorView[] = [];
    for (const c of this.registry.all()) {
      const states: ConnectorState[] = [];
      if (this.config.hasRole('dispatcher')) states.push(c.state());
      try {
        const keys = await this.scan(this.key(c.id, '*'));
        const others = keys.filter((k) => k !== this.key(c.id));
        if (others.length) {
          for (const v of await this.redis.mget(others)) if (v) states.push(JSON.parse(v) as ConnectorState);
        }
      } catch {
        // Redis away: report what this process knows.
      }
      out.push(combineStates(c, states.length ? states : [{ ...c.state(), bindsUp: 0, inFlight: 0 }]));
    }
    return out;
  }

  private async scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 200);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }
}
