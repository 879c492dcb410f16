// Test configuration: the real local stack, the test database, and a Kafka topic prefix per test
// file so files never read each other's messages.
import { randomBytes } from 'node:crypto';
import { ParleyEnv, parseEnv } from '../../src/config/config.schema';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley_test';

export function testEnv(overrides: Record<string, string> = {}): ParleyEnv {
  return parseEnv({
    NODE_ENV: 'test',
    PORT: '0',
    PARLEY_LOG_LEVEL: process.env.PARLEY_TEST_LOG_LEVEL ?? 'error',
    DATABASE_URL: TEST_DATABASE_URL,
    PARLEY_MIGRATE_ON_START: 'false',
    KAFKA_TOPIC_PREFIX: `t${randomBytes(4).toString('hex')}.`,
    KAFKA_OUTBOUND_PARTITIONS: '4',
    KAFKA_PARTITIONS: '2',
    // The destination countries the suite texts (the engine's default is US,CA only).
    PARLEY_DEFAULT_ALLOWED_COUNTRIES: 'US,CA,GB,JE,FR,JP,CN',
    // Tests poll the API every few milliseconds, so a workspace's 200 requests a second ran out
    // in one run (a 429 on a batch); the limits have their own test (rate-limits.test.ts).
    PARLEY_RATE_LIMIT_KEY_PER_SECOND: '100000',
    PARLEY_RATE_LIMIT_WORKSPACE_PER_SECOND: '100000',
    ...overrides,
  });
}
