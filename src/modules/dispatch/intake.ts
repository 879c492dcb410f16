// Intake: what the dispatcher does with each outbound record it reads, decided on the record alone
// (no I/O): refused for good (past its validity, a number no carrier serves, an unknown sender, a
// quiet-hours window that cannot be read), held (a marketing message outside its recipient's window),
// set aside (a record that is not a message), or a flight for its carrier's lane, with the buckets
// it pays into. Pure but for the carrier directory and connectors it is handed.
import type { CarrierConfig, SenderConfig } from '../carriers/carriers.config';
import type { Connector } from '../carriers/connector';
import { isAllowedAt, nextAllowedAt } from '../campaigns/quiet-hours';
import type { StatusChange } from '../messages/message-record';
import type { LaneClass } from './carrier-lane';
import { FlightCore, LaneLoad } from './flight';
import { DispatchEnvelope, parseOutbound } from './outbound-envelope';
import type { BucketSpec, RatePolicy } from './rate.policy';
import type { Reservable } from './reservation';

/** Where a message came from in Kafka; handed back once its outcome is durable. */
export interface OffsetRef {
  topic: string;
  partition: number;
  offset: string;
  /** The consumer's assignment it was read in: refs of an older one are not committed. */
  generation: number;
  /** Its partition's lease epoch when read: the fence is written under it. */
  epoch: string;
}

export interface IntakeRecord {
  ref: OffsetRef;
  key: Buffer | null;
  value: Buffer | null;
}

/** A message in flight in this dispatcher (flight.ts is its lifecycle). */
export interface Flight extends FlightCore, Reservable {
  env: DispatchEnvelope;
  carrier: CarrierConfig;
  sender: SenderConfig;
  connector: Connector;
  refs: OffsetRef[];
  /** Definite refusals so far (throttled, queue full). */
  attempts: number;
  /** When its opt-outs were last looked at (a flight that waited longer looks again). */
  checkedAt: number;
  /** The send time its tokens were reserved for. */
  slotAt?: number;
}

export type Refusal = Omit<StatusChange, 'id' | 'at'>;

export type Decision =
  | { kind: 'set_aside'; reason: string }
  | { kind: 'refuse'; env: DispatchEnvelope; refusal: Refusal }
  | { kind: 'hold'; env: DispatchEnvelope; releaseAt: Date }
  | { kind: 'fly'; flight: Flight };

export interface IntakeContext {
  carrierOf(e164: string): CarrierConfig | undefined;
  senderByAddress(address: string): SenderConfig | undefined;
  connector(id: string): Connector;
  policy: RatePolicy;
  /** The load of the carrier's lane, which the flight will count in. */
  loadOf(carrier: CarrierConfig): LaneLoad;
}

/** A reason the message can never leave, as its final status. */
export function refusalOf(
  env: DispatchEnvelope,
  now: number,
  ctx: Pick<IntakeContext, 'carrierOf' | 'senderByAddress'>,
): Refusal | undefined {
  if (env.validUntil !== undefined && env.validUntil <= now)
    return { status: 'expired', errorCode: 'validity_expired', detail: 'validity ended before dispatch' };
  if (!ctx.carrierOf(env.to))
    return { status: 'rejected', errorCode: 'no_route', detail: `no carrier serves ${env.to.slice(0, 4)}…` };
  if (!ctx.senderByAddress(env.from))
    return { status: 'rejected', errorCode: 'unknown_sender', detail: `no sender ${env.from}` };
  if (env.type === 'marketing' && env.quietHours) {
    // A window that cannot be read would throw on every look and wedge its partition.
    try {
      isAllowedAt(new Date(now), env.quietHours.timezone, env.quietHours);
    } catch (err) {
      return {
        status: 'rejected',
        errorCode: 'invalid_quiet_hours',
        detail: err instanceof Error ? err.message : String(err),
      };
    }
  }
  return undefined;
}

/** For a marketing message outside its window: when the window opens. */
export function quietUntil(env: DispatchEnvelope, now: number): Date | undefined {
  if (env.type !== 'marketing' || !env.quietHours) return undefined;
  const { timezone, start, end } = env.quietHours;
  const at = new Date(now);
  if (isAllowedAt(at, timezone, { start, end })) return undefined;
  return nextAllowedAt(at, timezone, { start, end });
}

/** Decides one record read from an outbound topic of class `lane`. */
export function decide(rec: IntakeRecord, lane: LaneClass, now: number, ctx: IntakeContext): Decision {
  const parsed = parseOutbound(rec.value);
  if (!parsed.ok) return { kind: 'set_aside', reason: parsed.reason };
  const env = parsed.envelope;
  const refusal = refusalOf(env, now, ctx);
  if (refusal) return { kind: 'refuse', env, refusal };
  const releaseAt = quietUntil(env, now);
  if (releaseAt) return { kind: 'hold', env, releaseAt };
  const carrier = ctx.carrierOf(env.to)!;
  const sender = ctx.senderByAddress(env.from)!;
  const buckets: BucketSpec[] = ctx.policy.bucketsOf({
    carrier,
    sender,
    campaign: env.campaignId
      ? { id: env.campaignId, maxSegmentsPerSecond: env.campaignMaxSegmentsPerSecond }
      : undefined,
    segments: env.segments,
  });
  return {
    kind: 'fly',
    flight: {
      id: env.id,
      to: env.to,
      lane,
      flow: env.campaignId,
      weight: env.campaignWeight,
      segments: env.segments,
      state: 'queued',
      taken: false,
      load: ctx.loadOf(carrier),
      carrierId: carrier.id,
      buckets,
      // Campaigns without a cap of their own share a spender; their weights apply in the lane.
      spenderWeight: env.campaignMaxSegmentsPerSecond ? (env.campaignWeight ?? 1) : 1,
      env,
      carrier,
      sender,
      connector: ctx.connector(sender.connector),
      refs: [rec.ref],
      attempts: 0,
      checkedAt: 0,
    },
  };
}
