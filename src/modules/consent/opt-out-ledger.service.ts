// The one door to consent: the reply router records STOP/START here, the API records opt-outs from
// other channels, imports record opt-ins, and the dispatcher asks which numbers of a batch it may
// not send to. recordOptOut resolves only after the event and the state are committed (STOP wins).
import { Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
import type { Database } from '../../infra/db/database';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { METRICS } from '../../infra/metrics/metric-names';
import { ConsentScope, ConsentSummary, summarize } from './consent-state';
import { ConsentEventRow, ConsentRepository } from './consent.repository';

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
    const senderAddress = this.senderOf(input.scope, input.senderAddress);
    const ev = await this.repo.transaction((trx) =>
      this.repo.append(
        {
          workspaceId: input.workspaceId,
          e164: input.e164,
          kind: 'opt_out',
          scope: input.scope,
          senderAddress,
          source: input.source,
          evidence: input.evidence ?? null,
          occurredAt: input.at ?? new Date(),
        },
        trx,
      ),
    );
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
    const outs = changes.filter((c): c is Extract<ConsentChange, { kind: 'opt_out' }> => c.kind === 'opt_out');
    await this.repo.appendOptOuts(
      outs.map((c) => ({
        workspaceId: c.workspaceId,
        e164: c.e164,
        kind: 'opt_out',
        scope: c.scope,
        senderAddress: this.senderOf(c.scope, c.senderAddress),
        source: c.source,
        evidence: c.evidence ?? null,
        occurredAt: c.at ?? new Date(),
      })),
      trx,
    );
    for (const c of changes) {
      if (c.kind !== 'opt_in') continue;
      const scope = c.scope ?? 'workspace';
      await this.repo.append(
        {
          workspaceId: c.workspaceId,
          e164: c.e164,
          kind: 'opt_in',
          scope,
          senderAddress: this.senderOf(scope, c.senderAddress),
          source: c.source,
          evidence: c.evidence ?? null,
          occurredAt: c.at ?? new Date(),
        },
        trx,
      );
    }
  }

  /** Counts a committed batch's opt-outs (the metric recordOptOut keeps for single ones). */
  counted(changes: readonly ConsentChange[]): void {
    for (const c of changes) if (c.kind === 'opt_out') this.optOuts.inc({ source: c.source });
  }

  async recordOptIn(input: OptInInput): Promise<ConsentEventRow> {
    const scope = input.scope ?? 'workspace';
    const senderAddress = this.senderOf(scope, input.senderAddress);
    return this.repo.transaction((trx) =>
      this.repo.append(
        {
          workspaceId: input.workspaceId,
          e164: input.e164,
          kind: 'opt_in',
          scope,
          senderAddress,
          source: input.source,
          evidence: input.evidence ?? null,
          occurredAt: input.at ?? new Date(),
        },
        trx,
      ),
    );
  }

  async state(workspaceId: string, e164: string): Promise<ConsentState> {
    return { e164, ...summarize(await this.repo.states(workspaceId, e164)) };
  }

  events(workspaceId: string, e164: string): Promise<ConsentEventRow[]> {
    return this.repo.events(workspaceId, { e164 });
  }

  private senderOf(scope: ConsentScope, senderAddress: string | undefined): string {
    if (scope === 'workspace') return '';
    if (!senderAddress?.trim()) throw new Error('senderAddress: required when scope is "sender"');
    return senderAddress.trim();
  }
}
