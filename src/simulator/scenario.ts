// How the carrier simulator behaves: answer latency, receipt outcomes and delays, refusals, scripted
// customer replies, per-number rules and cap overrides. Read from a JSON file at start and changed at
// runtime through POST /scenario. Random choices are hashes of (seed, message, purpose), so the same
// seed gives the same outcomes whatever order messages arrive in.
import { z } from 'zod/v4';
import type { ReceiptOutcome } from './receipt-text';

const OUTCOMES = ['delivered', 'undelivered', 'expired', 'rejected'] as const;

/** A fixed number of milliseconds or a uniform range. */
const range = z
  .union([z.number().min(0), z.object({ min: z.number().min(0), max: z.number().min(0) })])
  .transform((v) =>
    typeof v === 'number' ? { min: v, max: v } : { min: v.min, max: Math.max(v.min, v.max) },
  );

export const DEFAULT_REPLY_POOLS = [
  { weight: 0.25, texts: ['STOP', 'Stop', 'unsubscribe'] },
  { weight: 0.3, texts: ['YES', 'Yes please', 'Y'] },
  { weight: 0.25, texts: ['when will my order arrive?', 'Where is my package?', 'what time is delivery'] },
  { weight: 0.2, texts: ['Thanks!', 'Who is this?', 'Can you call me back later'] },
];

const replySchema = z.object({
  /** Share of messages whose recipient answers (decided per message by the seed). */
  fraction: z.number().min(0).max(1).default(0),
  delay_ms: range.prefault({ min: 200, max: 1_000 }),
  pools: z
    .array(z.object({ weight: z.number().min(0), texts: z.array(z.string().min(1)).min(1) }))
    .min(1)
    .default(DEFAULT_REPLY_POOLS),
});

export const ruleSchema = z.object({
  /** Recipients starting with this E.164 prefix (longest matching rule wins). */
  prefix: z.string().regex(/^\+\d*$/),
  /** Refuse their submits with this SMPP status name (e.g. ESME_RINVDSTADR). */
  submit_error: z.string().optional(),
  /** Never answer their submits (the ESME's timeout path). */
  no_response: z.boolean().optional(),
  outcome: z.enum(OUTCOMES).optional(),
  /** Always reply with this text. */
  reply: z.string().optional(),
});

export const scenarioSchema = z.object({
  seed: z.number().int().default(1),
  /** Delay before submit_sm_resp (and before the HTTP provider answers). */
  latency_ms: range.prefault(0),
  receipt_delay_ms: range.prefault({ min: 50, max: 300 }),
  outcomes: z
    .partialRecord(z.enum(OUTCOMES), z.number().min(0))
    .default({ delivered: 0.95, undelivered: 0.03, expired: 0.01, rejected: 0.01 }),
  /** Share of submits refused with a given SMPP status, e.g. { "ESME_RSYSERR": 0.01 }. */
  submit_errors: z.record(z.string(), z.number().min(0).max(1)).default({}),
  /** Share of submits never answered. */
  no_response: z.number().min(0).max(1).default(0),
  replies: replySchema.prefault({}),
  rules: z.array(ruleSchema).default([]),
  /** Per-carrier segments_per_second overriding the carriers file. */
  caps: z.record(z.string(), z.number().positive()).default({}),
  /**
   * How the SMSC numbers the messages it takes (submit_sm_resp message_id): `hex` (a random
   * prefix and a hex counter), `decimal` (1, 2, 3, … as many SMSCs do; `restart_ids` starts again)
   * or `uuid`. `id_width` zero-pads counters to that many digits.
   */
  message_ids: z.enum(['hex', 'decimal', 'uuid']).default('hex'),
  id_width: z.number().int().min(0).max(32).default(0),
  /**
   * The id in its receipts' text: `as_resp` (as submit_sm_resp gave it), or converted to `decimal`
   * or `hex` (SMSCs that answer in one base and report in the other).
   */
  receipt_ids: z.enum(['as_resp', 'decimal', 'hex']).default('as_resp'),
  /** The receipted_message_id TLV: as submit_sm_resp gave it (`resp`, SMPP 3.4), as in the text, or none. */
  receipt_tlv: z.enum(['resp', 'text', 'none']).default('resp'),
  /** Where customer replies to HTTP-provider senders are posted (Twilio-style inbound webhook). */
  inbound_webhook_url: z.string().url().optional(),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type ScenarioRule = z.infer<typeof ruleSchema>;

/** Runtime actions accepted by POST /scenario beside scenario fields. */
export const scenarioActionsSchema = z.object({
  /** Answer every submit ESME_RTHROTTLED (HTTP 429) for this many seconds from now. */
  throttle_all_seconds: z.number().min(0).optional(),
  /** Close every SMPP session now (binds reconnect). */
  drop_connections: z.boolean().optional(),
  /** Refuse new binds for this many seconds (with drop_connections: an outage). */
  refuse_binds_seconds: z.number().min(0).optional(),
  /** Start numbering messages again, from 1 (true) or from the number given, as an SMSC does after a restart. */
  restart_ids: z.union([z.boolean(), z.number().int().min(1)]).optional(),
  /** Back to the scenario the simulator started with before applying the rest. */
  reset: z.boolean().optional(),
});
export type ScenarioActions = z.infer<typeof scenarioActionsSchema>;

export function parseScenario(input: unknown): Scenario {
  return scenarioSchema.parse(input ?? {});
}

/** A new scenario: top-level fields of `patch` replace those of `current`. */
export function patchScenario(current: Scenario, patch: Record<string, unknown>): Scenario {
  const fields = Object.fromEntries(Object.entries(patch).filter(([k]) => k in scenarioSchema.shape));
  return scenarioSchema.parse({ ...current, ...fields });
}

/** A uniform number in [0, 1) from the seed and the given parts (FNV-1a, then a murmur3 finaliser). */
export function unit(seed: number, ...parts: (string | number)[]): number {
  const s = `${seed}|${parts.join('|')}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

/** Picks a key by weight with a uniform `u` in [0, 1); weights need not sum to 1. */
export function pickWeighted<K extends string>(
  weights: Partial<Record<K, number>>,
  u: number,
): K | undefined {
  const entries = Object.entries(weights).filter(([, w]) => (w as number) > 0) as [K, number][];
  const total = entries.reduce((n, [, w]) => n + w, 0);
  if (!total) return undefined;
  let x = u * total;
  for (const [k, w] of entries) {
    if (x < w) return k;
    x -= w;
  }
  return entries[entries.length - 1][0];
}

export function inRange(r: { min: number; max: number }, u: number): number {
  return Math.round(r.min + (r.max - r.min) * u);
}

/** The longest rule whose prefix the recipient starts with. */
export function ruleFor(rules: ScenarioRule[], e164: string): ScenarioRule | undefined {
  let best: ScenarioRule | undefined;
  for (const r of rules)
    if (e164.startsWith(r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  return best;
}

export function outcomeFor(s: Scenario, messageKey: string, rule?: ScenarioRule): ReceiptOutcome {
  return rule?.outcome ?? pickWeighted(s.outcomes, unit(s.seed, 'outcome', messageKey)) ?? 'delivered';
}

/** The reply text a recipient sends back for this message, or undefined when they stay silent. */
export function replyFor(s: Scenario, messageKey: string, rule?: ScenarioRule): string | undefined {
  if (rule?.reply) return rule.reply;
  if (unit(s.seed, 'reply?', messageKey) >= s.replies.fraction) return undefined;
  const weights = Object.fromEntries(s.replies.pools.map((p, i) => [String(i), p.weight]));
  const pool = s.replies.pools[Number(pickWeighted(weights, unit(s.seed, 'pool', messageKey)) ?? 0)];
  return pool.texts[Math.floor(unit(s.seed, 'text', messageKey) * pool.texts.length)];
}

/**
 * The id a receipt's text carries for a message the SMSC answered with `respId`, per the
 * scenario's `receipt_ids` (an id that is not a number stays as it is).
 */
export function receiptIdFor(s: Pick<Scenario, 'receipt_ids' | 'message_ids'>, respId: string): string {
  if (s.receipt_ids === 'as_resp' || s.message_ids === 'uuid') return respId;
  const n = s.message_ids === 'decimal' ? BigInt(respId) : BigInt('0x' + respId);
  return s.receipt_ids === 'decimal' ? n.toString(10) : n.toString(16);
}
