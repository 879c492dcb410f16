// Which carrier a number belongs to and which senders a `from` may mean, read from the carriers
// file. Pure, so the engine, the simulator and the specs share one reading; CarrierDirectory adds
// the Redis memory of sticky senders on top.
import { createHash } from 'node:crypto';
import { BoundedCache } from './bounded-cache';
import { CarrierConfig, CarriersConfigError, CarriersFile, SenderConfig } from './carriers.config';

export class PrefixTable {
  private readonly byPrefix = new Map<string, CarrierConfig>();
  private readonly longest: number;
  // Bounded: a campaign touches many numbers once; recent ones are the ones asked again.
  private readonly cache = new BoundedCache<string, CarrierConfig | null>(100_000);

  constructor(carriers: CarrierConfig[]) {
    for (const c of carriers) {
      for (const p of c.prefixes) {
        const other = this.byPrefix.get(p);
        // Two carriers on one prefix would make the route depend on the order of the file.
        if (other && other.id !== c.id) {
          throw new CarriersConfigError(`prefix ${p} belongs to both carrier "${other.id}" and "${c.id}"`);
        }
        this.byPrefix.set(p, c);
      }
    }
    this.longest = Math.max(...[...this.byPrefix.keys()].map((p) => p.length));
  }

  /** The carrier with the longest prefix of the E.164 number, if any prefix matches. */
  carrierOf(e164: string): CarrierConfig | undefined {
    const hit = this.cache.get(e164);
    if (hit !== undefined) return hit ?? undefined;
    let found: CarrierConfig | undefined;
    for (let n = Math.min(this.longest, e164.length); n >= 1 && !found; n--) {
      found = this.byPrefix.get(e164.slice(0, n));
    }
    this.cache.set(e164, found ?? null);
    return found;
  }
}

/** Senders by address and pools by name, checked for names that would be ambiguous. */
export class SenderBook {
  readonly byAddress = new Map<string, SenderConfig>();
  readonly pools = new Map<string, SenderConfig[]>();

  constructor(readonly file: CarriersFile) {
    for (const s of file.senders) {
      if (this.byAddress.has(s.address)) throw new CarriersConfigError(`sender ${s.address} is listed twice`);
      this.byAddress.set(s.address, s);
      if (s.pool) this.pools.set(s.pool, [...(this.pools.get(s.pool) ?? []), s]);
    }
    for (const pool of this.pools.keys()) {
      if (this.byAddress.has(pool)) {
        throw new CarriersConfigError(`pool "${pool}" has the same name as a sender address`);
      }
    }
    const d = file.default_from;
    if (d !== undefined && !this.byAddress.has(d) && !this.pools.has(d)) {
      throw new CarriersConfigError(`default_from "${d}" is neither a sender address nor a pool`);
    }
  }

  /** The sender of that address; "+" and spaces people add to short codes are tolerated. */
  sender(address: string): SenderConfig | undefined {
    return this.byAddress.get(address) ?? this.byAddress.get(address.replace(/[\s\-().]/g, ''));
  }
}

/** Whether a workspace may send from the sender (no list means every workspace may). */
export function allowedFor(sender: SenderConfig, workspace: { id: string; name: string }): boolean {
  return (
    sender.workspaces.length === 0 ||
    sender.workspaces.includes(workspace.name) ||
    sender.workspaces.includes(workspace.id)
  );
}

/**
 * The pool member a recipient gets when nothing is remembered yet: rendezvous hashing, so every
 * process picks the same one, and adding a sender to a pool moves only the share it takes over.
 */
export function stableChoice(members: SenderConfig[], recipient: string): SenderConfig {
  let best = members[0];
  let bestScore = -1;
  for (const m of members) {
    const score = createHash('sha1').update(`${recipient}|${m.address}`).digest().readUInt32BE(0);
    if (score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}
