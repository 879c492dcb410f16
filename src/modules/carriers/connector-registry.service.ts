// Every connector of the carriers file, built once per process by kind. Only the dispatcher role
// starts them (startAll): binds open, and receipts and customer messages arriving on them go to
// Kafka (sms.receipts keyed by recipient, sms.inbound keyed by the customer's number). Other roles
// may still read connectors' configuration and (idle) state.
import { BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { KafkaService } from '../../infra/kafka/kafka.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { publishInbound, publishReceipt } from './carrier-traffic';
import { ConnectorConfig, loadCarriersFile } from './carriers.config';
import type { Connector } from './connector';
import type { ReceiptIdFormat } from './receipt-id';
import { SmppConnector } from './smpp/smpp.connector';
import { TwilioConnector, twilioAuthToken } from './twilio/twilio.connector';

export interface ConnectorFactoryContext {
  config: ConfigService;
  log: AppLogger;
}
export type ConnectorFactory = (cfg: ConnectorConfig, ctx: ConnectorFactoryContext) => Connector;

const factories = new Map<ConnectorConfig['kind'], ConnectorFactory>();

/** Adds (or replaces) how connectors of one kind are built; the registry uses it at construction. */
export function registerConnectorKind(kind: ConnectorConfig['kind'], factory: ConnectorFactory): void {
  factories.set(kind, factory);
}

registerConnectorKind('smpp', (cfg, { log }) => {
  if (cfg.kind !== 'smpp') throw new Error(`connector ${cfg.id} is not smpp`);
  const pino = log.child({ connector: cfg.id });
  return new SmppConnector(cfg, {
    log: {
      info: (o, m) => pino.info(o, m),
      warn: (o, m) => pino.warn(o, m),
      debug: (o, m) => pino.debug(o, m),
    },
  });
});

registerConnectorKind('twilio', (cfg, { config, log }) => {
  if (cfg.kind !== 'twilio') throw new Error(`connector ${cfg.id} is not twilio`);
  const authToken = twilioAuthToken(cfg, process.env, config.twilioAuthToken);
  if (!authToken)
    log.warn(
      { connector: cfg.id, variable: cfg.auth_token_env || 'TWILIO_AUTH_TOKEN' },
      'no auth token for this Twilio-style connector: its webhooks refuse every request and it cannot send',
    );
  return new TwilioConnector(cfg, {
    authToken,
    publicUrl: config.env.PARLEY_PUBLIC_URL,
  });
});

@Injectable()
export class ConnectorRegistry implements BeforeApplicationShutdown {
  private readonly connectors = new Map<string, Connector>();
  private starting?: Promise<void>;

  constructor(
    private readonly config: ConfigService,
    private readonly kafka: KafkaService,
    private readonly log: AppLogger,
  ) {
    for (const cfg of loadCarriersFile(config.env.PARLEY_CARRIERS_FILE).connectors) {
      const factory = factories.get(cfg.kind);
      if (!factory) throw new Error(`connector ${cfg.id}: no connector kind "${cfg.kind}" is registered`);
      this.connectors.set(cfg.id, factory(cfg, { config, log }));
    }
  }

  get(id: string): Connector {
    const c = this.connectors.get(id);
    if (!c) throw new Error(`unknown connector "${id}"`);
    return c;
  }

  /** How a connector's receipts name its messages; `as_is` for one this process does not know. */
  receiptIdFormatOf(id: string): ReceiptIdFormat {
    return this.connectors.get(id)?.receiptIdFormat ?? 'as_is';
  }

  /**
   * How many carrier ids (and receipts) one message of `segments` gets from a connector: an SMPP
   * submit per segment, one provider message (one sid) however long over HTTP. Unknown connectors
   * are taken as SMPP.
   */
  partsPerMessage(id: string, segments: number): number {
    return this.connectors.get(id)?.kind === 'twilio' ? 1 : Math.max(1, segments);
  }

  all(): Connector[] {
    return [...this.connectors.values()];
  }

  /** Wires receipts and inbound messages to Kafka and starts every connector (once per process). */
  startAll(): Promise<void> {
    this.starting ??= (async () => {
      // Returned promises let a connector acknowledge to the carrier only once Kafka has the record
      // (the SMPP connector answers deliver_sm after it; a failure makes the SMSC deliver it again).
      for (const c of this.connectors.values()) {
        c.onReceipt((r) => publishReceipt(this.kafka, r));
        c.onInbound((m) => publishInbound(this.kafka, m));
      }
      await Promise.all(this.all().map((c) => c.start()));
      this.log.info({ connectors: this.all().map((c) => c.state()) }, 'connectors started');
    })();
    return this.starting;
  }

  // Before Kafka's producer closes, so receipts arriving during the unbind still reach the topic.
  async beforeApplicationShutdown() {
    if (!this.starting) return;
    await this.starting.catch(() => undefined);
    await Promise.all(this.all().map((c) => c.stop().catch(() => undefined)));
  }
}
