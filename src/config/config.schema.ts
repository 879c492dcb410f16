// The engine's configuration: every environment variable Parley reads, with working local defaults.
// Pure (zod, and libphonenumber's list of countries) so the CLI, the engine and the tests validate
// the same way.
import { isSupportedCountry } from 'libphonenumber-js/max';
import { z } from 'zod/v4';

export const ROLES = ['api', 'dispatcher', 'receipts', 'router', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const rolesSchema = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.enum([...ROLES, 'all']))
      .min(1, 'name at least one role')
      .transform((rs) => (rs.includes('all') ? [...ROLES] : [...new Set(rs)]) as Role[]),
  );

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PARLEY_ROLES: rolesSchema.prefault('all'),
  // Which outbound topics a dispatcher consumes: both (one consumer group), or one of them in a
  // group of its own, so transactional messages have dispatchers that a campaign drain never busies.
  PARLEY_DISPATCH_TOPICS: z.enum(['all', 'priority', 'bulk']).default('all'),
  // The process's scheduling priority (nice). Positive values, which need no privilege, let bulk
  // roles yield the CPU to the API and priority dispatchers on a shared host.
  PARLEY_NICE: int(-20, 19).default(0),
  PARLEY_HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  PARLEY_MIGRATE_ON_START: bool.prefault('true'),
  PARLEY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Logs to this file (appended, directories made) instead of stdout. */
  PARLEY_LOG_FILE: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/parley'),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  // Threads that normalize uploaded import rows beside the event loop (0: on the event loop).
  PARLEY_IMPORT_WORKERS: int(0, 16).default(1),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .default('redis://127.0.0.1:6379'),
  KAFKA_BROKERS: z
    .string()
    .prefault('127.0.0.1:9092')
    .transform((s) =>
      s
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'each broker must be host:port')).min(1)),
  KAFKA_CLIENT_ID: z.string().min(1).default('parley'),
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, dot, dash, underscore')
    .default(''),
  KAFKA_OUTBOUND_PARTITIONS: int(1, 1024).default(12),
  KAFKA_PARTITIONS: int(1, 1024).default(6),
  KAFKA_REPLICATION_FACTOR: int(1, 5).default(1),
  PARLEY_CARRIERS_FILE: z.string().optional(),
  TWILIO_AUTH_TOKEN: z.string().optional(),
  // Lets Twilio-style webhooks and the simulator's provider use the well-known development token
  // when TWILIO_AUTH_TOKEN is unset (the demo sets it; tests run with NODE_ENV=test). Without either,
  // those webhooks refuse every request, since anyone could sign with a token printed in the docs.
  PARLEY_DEV_WEBHOOK_TOKEN: bool.default(false),
  // Where providers reach this engine (status callbacks, signed webhook URLs); no trailing slash.
  PARLEY_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^/\s]+$/, 'must be http(s)://host[:port] without a path')
    .default('http://127.0.0.1:3000'),
  // When set, GET /metrics answers only `Authorization: Bearer <token>` (401 otherwise), so a
  // port reachable beyond the Prometheus network does not publish traffic figures. Unset: open.
  PARLEY_METRICS_TOKEN: z.string().min(16, 'use at least 16 characters').optional(),
  // API rate limits (requests per second, counted in Redis so they hold across api processes): each
  // API key, each workspace (all its keys together), and each connector's provider webhooks. A
  // refused request is answered 429 with Retry-After; if Redis does not answer, requests pass.
  PARLEY_RATE_LIMIT_KEY_PER_SECOND: int(1, 1_000_000).default(100),
  PARLEY_RATE_LIMIT_WORKSPACE_PER_SECOND: int(1, 1_000_000).default(200),
  PARLEY_RATE_LIMIT_WEBHOOK_PER_SECOND: int(1, 1_000_000).default(500),
  // Whether the API documentation (/docs, /docs-json, /docs-yaml) is served; false: they are 404.
  PARLEY_DOCS_PUBLIC: bool.prefault('true'),
  // How a multipart message's parts add up to one status (see messages/status-machine.ts).
  // A submit whose answer was lost (a crash, a dropped connection) ends as `unknown` (never resent)
  // if no receipt could be tied to it within this window. Longer: fewer `unknown` for carriers with
  // slow receipts, but campaigns and callers wait that long for the last outcomes.
  PARLEY_SUBMIT_UNKNOWN_AFTER_SECONDS: int(10, 7 * 24 * 3600).default(600),
  // A message fenced this long ago with no carrier answer stored was left open by a crash or a lost
  // connection: a receipt whose id matches nothing may be tied to it by connector, handset and time
  // when exactly one such message fits. Must exceed the longest a live dispatcher takes to store
  // an answer (response timeout plus throttle retries, about 20 s by default).
  PARLEY_RECEIPT_ORPHAN_AFTER_SECONDS: int(1, 24 * 3600).default(60),
  // How much the time a submit takes to reach its carrier may vary (ms): the rate limits leave that
  // much of every cap unused so no carrier second sees more than its cap (see rates/token-bucket.ts).
  PARLEY_CARRIER_JITTER_MS: int(0, 1_000).default(40),
  PARLEY_MULTIPART_RULE: z.enum(['any_failure', 'all_final', 'any_delivered']).default('any_failure'),
  // A receipt that matches no open part is retried this long (its submit's write may be behind),
  // then kept in unapplied_receipts with its reason.
  PARLEY_RECEIPT_PARK_SECONDS: int(1, 7 * 24 * 3600).default(3600),
  // A consumer whose partition has records waiting and whose committed offset has not moved for
  // this long is stalled: /health/ready turns red naming it, and the stall gauge is set.
  PARLEY_CONSUMER_STALL_SECONDS: int(1, 24 * 3600).default(120),
  // A record a consumer cannot process is tried this many times, then dead-lettered with its reason.
  PARLEY_POISON_ATTEMPTS: int(1, 20).default(3),
  // SMS-pumping guards (see docs/SECURITY.md). The countries a workspace may text unless its
  // allowed_countries setting says otherwise (ISO alpha-2, comma-separated).
  PARLEY_DEFAULT_ALLOWED_COUNTRIES: z
    .string()
    .regex(/^\s*([A-Za-z]{2}\s*(,\s*[A-Za-z]{2}\s*)*)?$/, 'a comma-separated list of ISO alpha-2 codes')
    .refine(
      (v) =>
        v
          .split(',')
          .map((c) => c.trim().toUpperCase())
          .every((c) => c === '' || isSupportedCountry(c)),
      'names a country code libphonenumber does not know',
    )
    .default('US,CA'),
  // E.164 prefixes refused for every workspace (premium-rate ranges), comma-separated.
  PARLEY_BLOCKED_PREFIXES: z
    .string()
    .regex(/^\s*(\+\d{1,14}\s*(,\s*\+\d{1,14}\s*)*)?$/, 'a comma-separated list of E.164 prefixes (+…)')
    .default(''),
  // Segments a workspace may have accepted per UTC day unless its daily_segment_budget says
  // otherwise; unset: unlimited.
  PARLEY_DAILY_SEGMENT_BUDGET: int(1, 1_000_000_000).optional(),
});

export type ParleyEnv = z.infer<typeof envSchema>;

export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super('invalid configuration: ' + issues.map((i) => `${i.variable}: ${i.message}`).join('; '));
  }
}

/** Validates the environment; throws ConfigError naming each bad variable. */
export function parseEnv(env: Record<string, string | undefined>): ParleyEnv {
  // Empty strings mean "unset" so `FOO= npm start` falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = envSchema.safeParse(cleaned);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    );
  }
  if (r.data.NODE_ENV === 'production' && !r.data.TWILIO_AUTH_TOKEN) {
    // Outside production a development token keeps the simulator working out of the box.
    throw new ConfigError([{ variable: 'TWILIO_AUTH_TOKEN', message: 'required in production' }]);
  }
  return r.data;
}
