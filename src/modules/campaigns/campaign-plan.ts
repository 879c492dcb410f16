// The launch plan of a campaign, computed from its real recipients: who is reached and who is
// excluded (and why), the segments each rendered message costs and the encoding mix, the segments
// each carrier must carry and the time that takes at its cap (and the campaign's own cap), when it
// will finish, and how many recipients quiet hours hold back at the start. Pure: the service feeds it
// recipients chunk by chunk; tests feed it arrays.

export type Exclusion =
  'opted_out' | 'not_opted_in' | 'invalid' | 'no_route' | 'country_not_allowed' | 'prefix_blocked';

export interface PlannedRecipient {
  /** Rendered text's segment count and encoding, or undefined when excluded before rendering. */
  segments: number;
  encoding: 'GSM-7' | 'UCS-2';
  carrierId: string;
  /** Held by quiet hours at the planned start. */
  heldByQuietHours: boolean;
  /** Seconds from the planned start until the recipient's window opens (0 when allowed). */
  waitSeconds: number;
}

export interface CarrierCap {
  id: string;
  segmentsPerSecond: number;
}

export interface CarrierPlan {
  carrier: string;
  recipients: number;
  segments: number;
  cap_segments_per_second: number;
  /**
   * The rate this campaign gets on the carrier: the carrier's cap, or the campaign's cap if lower,
   * as the dispatcher paces it (a few percent under the cap, the share left for the trip's jitter).
   */
  effective_segments_per_second: number;
  seconds_at_cap: number;
}

export interface LaunchPlan {
  recipients: number;
  excluded: Record<Exclusion, number> & { total: number };
  segments_total: number;
  encoding_mix: { 'GSM-7': number; 'UCS-2': number };
  segments_per_message: { min: number; max: number; average: number };
  carriers: CarrierPlan[];
  /** Seconds to drain at the carriers' caps (the slowest carrier bounds it), ignoring quiet hours. */
  seconds_at_cap: number;
  quiet_hours_held: number;
  /** Seconds until the last held recipient's window opens (0 when nobody is held). */
  quiet_hours_wait_seconds: number;
  starts_at: string;
  estimated_finish: string;
  computed_at: string;
}

export class PlanAccumulator {
  private recipients = 0;
  private excluded: Record<Exclusion, number> = {
    opted_out: 0,
    not_opted_in: 0,
    invalid: 0,
    no_route: 0,
    country_not_allowed: 0,
    prefix_blocked: 0,
  };
  private segments = 0;
  private mix = { 'GSM-7': 0, 'UCS-2': 0 };
  private minSeg = Infinity;
  private maxSeg = 0;
  private perCarrier = new Map<string, { recipients: number; segments: number }>();
  private held = 0;
  private maxWait = 0;

  exclude(reason: Exclusion, n = 1): void {
    this.excluded[reason] += n;
  }

  add(r: PlannedRecipient): void {
    this.recipients++;
    this.segments += r.segments;
    this.mix[r.encoding]++;
    this.minSeg = Math.min(this.minSeg, r.segments);
    this.maxSeg = Math.max(this.maxSeg, r.segments);
    const c = this.perCarrier.get(r.carrierId) ?? { recipients: 0, segments: 0 };
    c.recipients++;
    c.segments += r.segments;
    this.perCarrier.set(r.carrierId, c);
    if (r.heldByQuietHours) {
      this.held++;
      this.maxWait = Math.max(this.maxWait, r.waitSeconds);
    }
  }

  /**
   * Each carrier drains in parallel at min(carrier cap, campaign cap); the campaign's own cap is
   * shared across carriers, so the total can never beat segments / campaign cap either.
   */
  finish(
    caps: CarrierCap[],
    startsAt: Date,
    campaignCap?: number | null,
    now = new Date(),
    /** The rate the dispatcher actually sends at under a cap (identity: at the cap). */
    paced: (cap: number) => number = (cap) => cap,
  ): LaunchPlan {
    const capOf = new Map(caps.map((c) => [c.id, c.segmentsPerSecond]));
    const carriers: CarrierPlan[] = [...this.perCarrier]
      .map(([carrier, c]) => {
        const cap = capOf.get(carrier) ?? 0;
        const effective = round(paced(campaignCap ? Math.min(cap, campaignCap) : cap));
        return {
          carrier,
          recipients: c.recipients,
          segments: c.segments,
          cap_segments_per_second: cap,
          effective_segments_per_second: effective,
          seconds_at_cap: effective > 0 ? round(c.segments / effective) : Infinity,
        };
      })
      .sort((a, b) => b.segments - a.segments);
    const slowest = carriers.reduce((m, c) => Math.max(m, c.seconds_at_cap), 0);
    const overall = campaignCap ? Math.max(slowest, this.segments / paced(campaignCap)) : slowest;
    const seconds = round(overall);
    const excludedTotal = Object.values(this.excluded).reduce((a, b) => a + b, 0);
    return {
      recipients: this.recipients,
      excluded: { ...this.excluded, total: excludedTotal },
      segments_total: this.segments,
      encoding_mix: { ...this.mix },
      segments_per_message: {
        min: this.recipients ? this.minSeg : 0,
        max: this.maxSeg,
        average: this.recipients ? round(this.segments / this.recipients, 3) : 0,
      },
      carriers,
      seconds_at_cap: seconds,
      quiet_hours_held: this.held,
      quiet_hours_wait_seconds: round(this.maxWait),
      starts_at: startsAt.toISOString(),
      // Held recipients leave when their window opens; the drain may end later because of them.
      estimated_finish: new Date(
        startsAt.getTime() + Math.max(seconds, this.held ? this.maxWait : 0) * 1000,
      ).toISOString(),
      computed_at: now.toISOString(),
    };
  }
}

const round = (n: number, digits = 1) =>
  Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n;
