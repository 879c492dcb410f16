// The one door to consent: the reply router records STOP/START here, the API records opt-outs from
// other channels, imports record opt-ins, and the dispatcher asks which numbers of a batch it may
// not send to. recordOptOut resolves only after the event and the state are committed (STOP wins).
import { Injectable } from '@nestjs/common';
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
