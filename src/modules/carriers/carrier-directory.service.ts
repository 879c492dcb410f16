// The carriers file as the engine sees it: carriers by number prefix, senders and pools, and the
// sender each recipient gets. A recipient keeps the sender of a pool it first got (replies thread,
// and people trust a number they know): the choice is remembered in Redis per workspace and pool,
// and without Redis the same choice comes from a stable hash of the number.
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ConfigService } from '../../config/config.service';
import { ApiError } from '../../infra/http/api-error';
import { AppLogger } from '../../infra/logging/app-logger';
import { InjectRedis } from '../../infra/redis/redis.module';
import { BoundedCache } from './bounded-cache';
import { allowedFor, PrefixTable, SenderBook, stableChoice } from './carrier-routes';
import {
  CarrierConfig,
  CarriersConfigError,
  CarriersFile,
  ConnectorConfig,
  loadCarriersFile,
  SenderConfig,
} from './carriers.config';

/** Keeps the remembered choice if it is still a member; else stores the offered one. One round trip. */
const STICKY_SCRIPT = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  for i = 3, #ARGV do if ARGV[i] == v then return v end end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]`;

/** Past this, a send does not wait for Redis and takes the hashed choice (the same one, mostly). */
const STICKY_TIMEOUT_MS = 300;

export interface WorkspaceRef {
  id: string;
  name: string;
}

@Injectable()
export class CarrierDirectory {
  readonly file: CarriersFile;
  private readonly prefixes: PrefixTable;
  private readonly book: SenderBook;
  /** Choices already confirmed by Redis; they only change when a pool loses the sender. */
  private readonly remembered = new BoundedCache<string, string>(100_000);
  private lastWarning = 0;
  private scriptSha?: Promise<string>;

  constructor(
    config: ConfigService,
    @InjectRedis() private readonly redis: Redis,
    private readonly log: AppLogger,
  ) {
    // A bad file stops the engine here, with the file, the path in it and the reason.
    this.file = loadCarriersFile(config.env.PARLEY_CARRIERS_FILE);
    const where = config.env.PARLEY_CARRIERS_FILE ?? 'the built-in simulator setup';
    try {
      this.prefixes = new PrefixTable(this.file.carriers);
      this.book = new SenderBook(this.file);
    } catch (e) {
      if (e instanceof CarriersConfigError)
        throw new CarriersConfigError(`PARLEY_CARRIERS_FILE ${where}: ${e.message}`);
      throw e;
    }
  }

  carrierOf(e164: string): CarrierConfig | undefined {
    return this.prefixes.carrierOf(e164);
  }

  carriers(): CarrierConfig[] {
    return this.file.carriers;
  }

  senders(): SenderConfig[] {
    return this.file.senders;
  }

  connectors(): ConnectorConfig[] {
    return this.file.connectors;
  }

  senderByAddress(address: string): SenderConfig | undefined {
    return this.book.sender(address);
  }

  /** Senders a workspace may use. */
  sendersFor(workspace: WorkspaceRef): SenderConfig[] {
    return this.file.senders.filter((s) => allowedFor(s, workspace));
  }

  /**
   * What `from` names for a workspace: one sender, or the pool members it may use (the file's
   * default_from when absent). Unknown or not allowed: a 400 naming `from`.
   */
  sendersNamed(
    workspace: WorkspaceRef,
    from: string | undefined,
  ): { pool?: string; members: SenderConfig[] } {
    const name = from?.trim() || this.file.default_from;
    if (!name) throw fromError('no sender given and the carriers file names no default_from');
    const sender = this.book.sender(name);
    if (sender) {
      if (!allowedFor(sender, workspace)) {
        throw fromError(`sender ${sender.address} is not available to this workspace`);
      }
      return { members: [sender] };
    }
    const pool = this.book.pools.get(name);
    if (!pool) throw fromError(`"${name}" is neither a sender address nor a sender pool`);
    const members = pool.filter((s) => allowedFor(s, workspace));
    if (members.length === 0) throw fromError(`no sender of pool "${name}" is available to this workspace`);
    return { pool: name, members };
  }

  /**
   * The sender a message from `from` (a sender address or a pool name; the file's default_from
   * when absent) to `to` (E.164) goes out from. Unknown or not allowed: a 400 naming `from`.
   */
  async resolveSender(workspace: WorkspaceRef, from: string | undefined, to: string): Promise<SenderConfig> {
    return (await this.resolveSenders(workspace, from, [to])).get(to)!;
  }

  /**
   * resolveSender for many recipients of one `from` (a campaign's batch) in one Redis round trip.
   * Returns each recipient's sender.
   */
  async resolveSenders(
    workspace: WorkspaceRef,
    from: string | undefined,
    recipients: string[],
  ): Promise<Map<string, SenderConfig>> {
    const { pool, members } = this.sendersNamed(workspace, from);
    if (!pool || members.length === 1) return new Map(recipients.map((to) => [to, members[0]]));
    return this.sticky(workspace.id, pool, members, recipients);
  }

  private async sticky(
    workspaceId: string,
    pool: string,
    members: SenderConfig[],
    recipients: string[],
  ): Promise<Map<string, SenderConfig>> {
    const byAddress = new Map(members.map((m) => [m.address, m]));
    const out = new Map<string, SenderConfig>();
    const ask: { to: string; offered: SenderConfig }[] = [];
    for (const to of recipients) {
      const known = this.remembered.get(`${workspaceId}|${pool}|${to}`);
      const knownSender = known ? byAddress.get(known) : undefined;
      if (knownSender) out.set(to, knownSender);
      else if (!out.has(to)) ask.push({ to, offered: stableChoice(members, to) });
    }
    if (ask.length === 0) return out;

    let answers: (string | undefined)[];
    try {
      // A large batch gets a little longer: a thousand script calls take Redis a few milliseconds.
      const timeout = STICKY_TIMEOUT_MS + Math.ceil(ask.length / 10);
      answers = await withTimeout(this.remember(stickyKey(workspaceId, pool), ask, members), timeout);
    } catch (err) {
      // Once per minute at most: while Redis is away every send of a campaign would say it.
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.log.pino.warn(
          { err: String(err), pool },
          'sticky sender memory unavailable; using the hashed choice',
        );
      }
      answers = [];
    }
    ask.forEach(({ to, offered }, i) => {
      const chosen = answers[i] !== undefined ? byAddress.get(answers[i]) : undefined;
      if (chosen) this.remembered.set(`${workspaceId}|${pool}|${to}`, chosen.address);
      out.set(to, chosen ?? offered);
    });
    return out;
  }

  /** Runs the sticky script for each recipient in one pipeline; the remembered (or stored) address of each. */
  private async remember(
    key: string,
    ask: { to: string; offered: SenderConfig }[],
    members: SenderConfig[],
  ): Promise<(string | undefined)[]> {
    const addresses = members.map((m) => m.address);
    this.scriptSha ??= this.redis.script('LOAD', STICKY_SCRIPT) as Promise<string>;
    const sha = await this.scriptSha.catch((e: unknown) => {
      this.scriptSha = undefined;
      throw e;
    });
    const pipeline = this.redis.pipeline();
    for (const { to, offered } of ask) pipeline.evalsha(sha, 1, key, to, offered.address, ...addresses);
    const results = (await pipeline.exec()) ?? [];
    // Scripts vanish when Redis restarts; load again next time, and take the hashed choice now.
    if (results.some(([err]) => err && /NOSCRIPT/.test(String(err)))) this.scriptSha = undefined;
    return results.map(([err, value]) => (err ? undefined : (value as string)));
  }
}

export function stickyKey(workspaceId: string, pool: string): string {
  return `parley:sticky:${workspaceId}:${pool}`;
}

function fromError(message: string): ApiError {
  return ApiError.validation([{ path: 'from', message }]);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
