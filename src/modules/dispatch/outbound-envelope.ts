// Reading outbound records: a Kafka record is trusted only once it reads as an OutboundEnvelope.
// A record that does not is set aside (the DLQ) with the reason instead of stopping the partition.
// Checked field by field by hand: every outbound record passes here, and a schema library's
// generic walk cost the dispatcher more than the rest of its intake. Pure.
import type { OutboundEnvelope } from '../messages/message.types';
import { isUuid } from '../../infra/ids/uuid';

export type DispatchEnvelope = OutboundEnvelope;

export type ParsedRecord = { ok: true; envelope: DispatchEnvelope } | { ok: false; reason: string };

const E164 = /^\+\d{6,15}$/;
const HHMM = /^\d{2}:\d{2}$/;

class Invalid extends Error {}

const fail = (path: string, message: string): never => {
  throw new Invalid(`invalid envelope: ${path}: ${message}`);
};

type Raw = Record<string, unknown>;

function str(o: Raw, k: string, optional = false): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return optional ? undefined : fail(k, 'required');
  if (typeof v !== 'string') return fail(k, 'expected a string');
  return v;
}

function uuid(o: Raw, k: string, optional = false): string | undefined {
  const v = str(o, k, optional);
  if (v !== undefined && !isUuid(v)) fail(k, 'expected a UUID');
  return v;
}

function num(
  o: Raw,
  k: string,
  check: (n: number) => boolean,
  what: string,
  optional = false,
): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return optional ? undefined : fail(k, 'required');
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) return fail(k, `expected ${what}`);
  return v;
}

function bool(o: Raw, k: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(k, 'expected a boolean');
  return v as boolean;
}

const nonNegInt = (n: number) => Number.isInteger(n) && n >= 0;

export function parseOutbound(value: Buffer | null): ParsedRecord {
  if (!value || value.length === 0) return { ok: false, reason: 'empty record' };
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch (e) {
    return { ok: false, reason: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, reason: 'invalid envelope: (root): expected an object' };
  try {
    return { ok: true, envelope: read(raw as Raw) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, reason: e.message };
    throw e;
  }
}

function read(o: Raw): DispatchEnvelope {
  const to = str(o, 'to')!;
  if (!E164.test(to)) fail('to', 'E.164');
  const from = str(o, 'from')!;
  if (!from) fail('from', 'must not be empty');
  const body = str(o, 'body')!;
  if (!body) fail('body', 'must not be empty');
  const encoding = str(o, 'encoding')!;
  if (encoding !== 'GSM-7' && encoding !== 'UCS-2') fail('encoding', 'GSM-7 or UCS-2');
  const type = str(o, 'type')!;
  if (type !== 'transactional' && type !== 'marketing') fail('type', 'transactional or marketing');
  const env: DispatchEnvelope = {
    id: uuid(o, 'id')!,
    workspaceId: uuid(o, 'workspaceId')!,
    to,
    from,
    body,
    encoding: encoding as DispatchEnvelope['encoding'],
    segments: num(o, 'segments', (n) => Number.isInteger(n) && n >= 1, 'an integer of at least 1')!,
    type: type as DispatchEnvelope['type'],
    acceptedAt: num(o, 'acceptedAt', nonNegInt, 'a time (ms)')!,
  };
  const campaignId = uuid(o, 'campaignId', true);
  if (campaignId !== undefined) env.campaignId = campaignId;
  const validUntil = num(o, 'validUntil', nonNegInt, 'a time (ms)', true);
  if (validUntil !== undefined) env.validUntil = validUntil;
  const cap = num(o, 'campaignMaxSegmentsPerSecond', (n) => n > 0, 'a positive number', true);
  if (cap !== undefined) env.campaignMaxSegmentsPerSecond = cap;
  const weight = num(o, 'campaignWeight', (n) => n > 0, 'a positive number', true);
  if (weight !== undefined) env.campaignWeight = weight;
  for (const k of ['smartEncoding', 'autoReply', 'optOutConfirmation'] as const) {
    const b = bool(o, k);
    if (b !== undefined) env[k] = b;
  }
  const qh = o.quietHours;
  if (qh !== undefined && qh !== null) {
    if (typeof qh !== 'object' || Array.isArray(qh)) fail('quietHours', 'expected an object');
    const q = qh as Raw;
    const start = str(q, 'start')!;
    const end = str(q, 'end')!;
    const timezone = str(q, 'timezone')!;
    if (!HHMM.test(start)) fail('quietHours.start', 'HH:MM');
    if (!HHMM.test(end)) fail('quietHours.end', 'HH:MM');
    if (!timezone) fail('quietHours.timezone', 'must not be empty');
    env.quietHours = { start, end, timezone };
  }
  const metadata = o.metadata;
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) fail('metadata', 'expected an object');
    env.metadata = metadata as Record<string, unknown>;
  }
  const cb = str(o, 'statusCallback', true);
  if (cb) env.statusCallback = cb;
  return env;
}
