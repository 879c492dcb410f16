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

  get twilioAuthToken(): string {
    return this.env.TWILIO_AUTH_TOKEN ?? 'dev-auth-token';
  }
}

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
