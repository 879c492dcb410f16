// The one door to consent: the reply router records STOP/START here, the API records opt-outs from
// other channels, imports record opt-ins, and the dispatcher asks which numbers of a batch it may
// not send to. recordOptOut resolves only after the event and the state are committed (STOP wins).
import { Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import type { Database } from '../../infra/db/database';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { METRICS } from '../../infra/metrics/metric-names';
import { ConsentScope, ConsentSummary, summarize } from './consent-state';
import { ConsentEventRow, ConsentRepository, NewConsentEvent } from './consent.repository';

export interface OptOutInput {
  workspaceId: string;
  e164: string;
  scope: ConsentScope;
  /** Required when scope is 'sender'. */
  senderAddress?: string;
  source: string;
  evidence?: string;
  at?: Date;
}

export interface OptInInput {
  workspaceId: string;
  e164: string;
  source: string;
  evidence?: string;
  at?: Date;
  /** Default 'workspace': clears every opt-out of the number; 'sender' clears only that sender's. */
  scope?: ConsentScope;
  senderAddress?: string;
}

/** One consent change of a batch (the reply router's STOPs and STARTs), in arrival order. */
export type ConsentChange = ({ kind: 'opt_out' } & OptOutInput) | ({ kind: 'opt_in' } & OptInInput);

export interface ConsentState extends ConsentSummary {
  e164: string;
}

@Injectable()
export class OptOutLedger {
  private readonly optOuts;

  constructor(
    private readonly repo: ConsentRepository,
    metrics: MetricsService,
  ) {
    this.optOuts = metrics.counter(METRICS.optOuts.name, 'Opt-outs recorded in the consent ledger.', [
      ...METRICS.optOuts.labels,
    ]);
  }

  /** One query for the whole batch; the set holds the numbers that must not be sent to. */
  async suppressedAmong(
    workspaceId: string,
    numbers: string[],
    senderAddress?: string,
  ): Promise<Set<string>> {
    return new Set(await this.repo.suppressedAmong(workspaceId, [...new Set(numbers)], senderAddress));
  }

  async recordOptOut(input: OptOutInput): Promise<ConsentEventRow> {
    const event = this.eventOf({ kind: 'opt_out', ...input });
    const ev = await this.repo.transaction((trx) => this.repo.append(event, trx));
    this.optOuts.inc({ source: input.source });
    return ev;
  }

  /** Runs fn in one database transaction, so a caller's own rows commit with its consent changes. */
  transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.repo.transaction(fn);
  }

  /**
   * Records a batch of changes inside the caller's transaction: every opt-out in one statement, the
   * (rarer) opt-ins after it. The order between them does not matter: the ledger's state follows
   * occurred_at, not the order events are written. Counted once the caller commits (see counted).
   */
  async recordMany(changes: readonly ConsentChange[], trx: Kysely<Database>): Promise<void> {
    const events = changes.map((c) => this.eventOf(c));
    await this.repo.appendOptOuts(
      events.filter((e) => e.kind === 'opt_out'),
      trx,
    );
    for (const e of events) if (e.kind === 'opt_in') await this.repo.append(e, trx);
  }

  /** Counts a committed batch's opt-outs (the metric recordOptOut keeps for single ones). */
  counted(changes: readonly ConsentChange[]): void {
    for (const c of changes) if (c.kind === 'opt_out') this.optOuts.inc({ source: c.source });
  }

  async recordOptIn(input: OptInInput): Promise<ConsentEventRow> {
    const event = this.eventOf({ kind: 'opt_in', ...input });
    return this.repo.transaction((trx) => this.repo.append(event, trx));
  }

  async state(workspaceId: string, e164: string): Promise<ConsentState> {
    return { e164, ...summarize(await this.repo.states(workspaceId, e164)) };
  }

  events(workspaceId: string, e164: string): Promise<ConsentEventRow[]> {
    return this.repo.events(workspaceId, { e164 });
  }

  /** The ledger event of a change: an opt-in defaults to the workspace scope, times to now. */
  private eventOf(c: ConsentChange): NewConsentEvent {
    const scope = c.scope ?? 'workspace';
    return {
      workspaceId: c.workspaceId,
      e164: c.e164,
      kind: c.kind,
      scope,
      senderAddress: this.senderOf(scope, c.senderAddress),
      source: c.source,
      evidence: c.evidence ?? null,
      occurredAt: c.at ?? new Date(),
    };
  }

  private senderOf(scope: ConsentScope, senderAddress: string | undefined): string {
    if (scope === 'workspace') return '';
    if (!senderAddress?.trim()) throw new Error('senderAddress: required when scope is "sender"');
    return senderAddress.trim();
  }
}
