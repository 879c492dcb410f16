// Connectors, carriers and senders: what Parley can reach and how fast. Read from the YAML or JSON
// file named by PARLEY_CARRIERS_FILE, else the built-in setup that points everything at the carrier
// simulator. Pure (zod + yaml) so the engine, the simulator and the tests share one reading.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod/v4';
import { RECEIPT_ID_FORMATS } from './receipt-id';

const e164Prefix = z.string().regex(/^\+\d{0,14}$/, 'must be "+" followed by up to 14 digits');

export const connectorSchema = z.discriminatedUnion('kind', [
  z.object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, dash, underscore'),
    kind: z.literal('smpp'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(2775),
    system_id: z.string().min(1).max(15).default('parley'),
    password: z.string().max(8).default('secret'),
    system_type: z.string().max(12).default(''),
    binds: z.number().int().min(1).max(32).default(1),
    /** Outstanding submit_sm per bind before we wait for responses. */
    window: z.number().int().min(1).max(1000).default(50),
    /** submit_sm per second per bind (0 = unlimited; carriers' segment caps apply anyway). */
    submit_rate: z.number().min(0).default(0),
    enquire_link_seconds: z.number().min(1).default(30),
    response_timeout_ms: z.number().int().min(100).default(10_000),
    /**
     * How the SMSC writes a receipt's id against its submit_sm_resp id (Kannel's msg-id-type):
     * `as_is` (the same id), `resp_hex_receipt_dec` or `resp_dec_receipt_hex`. See receipt-id.ts.
     */
    receipt_id_format: z.enum(RECEIPT_ID_FORMATS).default('as_is'),
  }),
  z.object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, dash, underscore'),
    kind: z.literal('twilio'),
    base_url: z.string().url(),
    account_sid: z.string().min(1).default('AC00000000000000000000000000000000'),
    /** Name of the environment variable holding the auth token (default TWILIO_AUTH_TOKEN). */
    auth_token_env: z.string().default('TWILIO_AUTH_TOKEN'),
    concurrency: z.number().int().min(1).max(1000).default(50),
  }),
]);

export const carrierSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, dash, underscore'),
  name: z.string().optional(),
  prefixes: z.array(e164Prefix).min(1),
  segments_per_second: z.number().positive(),
  daily_cap: z.number().int().positive().optional(),
});

export const senderSchema = z.object({
  /** The address messages come from: E.164 long code / toll-free, or a short code's digits. */
  address: z.string().regex(/^(\+\d{6,15}|\d{3,8})$/, 'an E.164 number or a 3-8 digit short code'),
  kind: z.enum(['short_code', 'long_code', 'toll_free']),
  segments_per_second: z.number().positive(),
  connector: z.string(),
  /** Senders sharing a pool name form a pool; a recipient keeps the same sender of a pool. */
  pool: z.string().optional(),
  /** Workspaces allowed to use this sender (names); empty means every workspace. */
  workspaces: z.array(z.string()).default([]),
  smart_encoding: z.boolean().default(false),
});

export const carriersFileSchema = z
  .object({
    connectors: z.array(connectorSchema).min(1),
    carriers: z.array(carrierSchema).min(1),
    senders: z.array(senderSchema).min(1),
    /** The pool or sender used when a message names no `from`. */
    default_from: z.string().optional(),
  })
  .superRefine((f, ctx) => {
    const ids = new Set(f.connectors.map((c) => c.id));
    f.senders.forEach((s, i) => {
      if (!ids.has(s.connector)) {
        ctx.addIssue({
          code: 'custom',
          path: ['senders', i, 'connector'],
          message: `unknown connector "${s.connector}"`,
        });
      }
    });
    const seen = new Set<string>();
    f.carriers.forEach((c, i) => {
      if (seen.has(c.id))
        ctx.addIssue({ code: 'custom', path: ['carriers', i, 'id'], message: `duplicate carrier "${c.id}"` });
      seen.add(c.id);
    });
  });

export type ConnectorConfig = z.infer<typeof connectorSchema>;
export type CarrierConfig = z.infer<typeof carrierSchema>;
export type SenderConfig = z.infer<typeof senderSchema>;
export type CarriersFile = z.infer<typeof carriersFileSchema>;

export const SIMULATOR_SMPP_PORT = 2775;
export const SIMULATOR_HTTP_PORT = 2776;

/** The built-in setup: everything points at the carrier simulator on this machine. */
export function defaultCarriersFile(): CarriersFile {
  return carriersFileSchema.parse({
    connectors: [
      {
        id: 'smpp',
        kind: 'smpp',
        host: '127.0.0.1',
        port: SIMULATOR_SMPP_PORT,
        system_id: 'parley',
        password: 'secret',
        binds: 2,
        window: 100,
      },
      { id: 'twilio', kind: 'twilio', base_url: `http://127.0.0.1:${SIMULATOR_HTTP_PORT}` },
    ],
    carriers: [
      // North America: one catch-all carrier for +1, and a second one on some area codes so the
      // longest-prefix rule and per-carrier lanes are exercised.
      { id: 'us-alpha', name: 'US Alpha Wireless', prefixes: ['+1'], segments_per_second: 400 },
      {
        id: 'us-beta',
        name: 'US Beta Mobile',
        prefixes: ['+1212', '+1310', '+1415', '+1646', '+1917'],
        segments_per_second: 200,
      },
      {
        id: 'eu-gamma',
        name: 'EU Gamma Telecom',
        prefixes: ['+33', '+34', '+44', '+49'],
        segments_per_second: 200,
      },
      { id: 'intl-delta', name: 'Intl Delta Roaming', prefixes: ['+'], segments_per_second: 100 },
    ],
    senders: [
      ...[0, 1, 2, 3].map((i) => ({
        address: `+1415555${String(100 + i).padStart(4, '0')}`,
        kind: 'long_code',
        segments_per_second: 250,
        connector: 'smpp',
        pool: 'default',
      })),
      { address: '72725', kind: 'short_code', segments_per_second: 500, connector: 'smpp' },
      { address: '+18885550199', kind: 'toll_free', segments_per_second: 100, connector: 'twilio' },
    ],
    default_from: 'default',
  });
}

export class CarriersConfigError extends Error {}

/** Reads and validates a carriers file; errors name the file, the path in it and the reason. */
export function loadCarriersFile(file?: string): CarriersFile {
  if (!file) return defaultCarriersFile();
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new CarriersConfigError(
      `PARLEY_CARRIERS_FILE ${file}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const r = carriersFileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new CarriersConfigError(`PARLEY_CARRIERS_FILE ${file}: ${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}
