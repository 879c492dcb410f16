// One typed view of the validated environment, injected wherever configuration is read.
import { Injectable } from '@nestjs/common';
import { ParleyEnv, Role, parseEnv } from './config.schema';

@Injectable()
export class ConfigService {
  readonly env: ParleyEnv;

  constructor(env: ParleyEnv = parseEnv(process.env)) {
    this.env = env;
  }

  get roles(): Role[] {
    return this.env.PARLEY_ROLES;
  }

  hasRole(role: Role): boolean {
    return this.env.PARLEY_ROLES.includes(role);
  }

  /** Topic names carry an optional prefix so tests and tenants of one cluster never collide. */
  topic(name: TopicName): string {
    return `${this.env.KAFKA_TOPIC_PREFIX}${name}`;
  }

  /**
   * The Twilio-style connectors' auth token: TWILIO_AUTH_TOKEN, or the development token in tests
   * and the demo (PARLEY_DEV_WEBHOOK_TOKEN); undefined otherwise, and their webhooks refuse all.
   */
  get twilioAuthToken(): string | undefined {
    if (this.env.TWILIO_AUTH_TOKEN) return this.env.TWILIO_AUTH_TOKEN;
    return this.env.NODE_ENV === 'test' || this.env.PARLEY_DEV_WEBHOOK_TOKEN ? DEV_WEBHOOK_TOKEN : undefined;
  }
}

/** The token the simulator signs with when none is configured; never accepted in production. */
export const DEV_WEBHOOK_TOKEN = 'dev-auth-token';

export const TOPICS = [
  'sms.outbound',
  'sms.outbound.priority',
  'sms.inbound',
  'sms.receipts',
  'sms.outbound.dlq',
  'sms.inbound.dlq',
  'sms.receipts.dlq',
] as const;
export type TopicName = (typeof TOPICS)[number];
