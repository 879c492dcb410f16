// Turns raw receipts into message statuses: parse, compute the id's key in the connector's declared
// form (carriers/receipt-id.ts), find the open part it is for (receipt-match.ts), apply part
// statuses (the repository adds multipart messages up by the configured rule), then metrics and
// customer callbacks. Receipts that match no open part yet are parked, receipts whose state cannot
// be mapped are kept as unapplied; none is dropped, and none is forced onto a final part. Used by
// the Kafka consumer and by the parked-receipt retry, so both take exactly the same path.
import { Injectable } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { AppLogger } from '../../infra/logging/app-logger';
import { ConnectorRegistry } from '../carriers/connector-registry.service';
import { receiptKeyOf } from '../carriers/receipt-id';
import type { AppliedChange } from '../messages/message-record';
import { FoundPart, PartOutcomeRepository, PartStatusChange } from './part-outcome.repository';
import { MessageStatus, ReceiptEnvelope, isTerminal } from '../messages/message.types';
import { ParsedReceipt, parseReceipt } from './dlr-parser';
import {
  ParkedReceiptRepository,
  UnappliedReason,
  UnappliedReceipt,
  UnappliedReceiptRepository,
} from './parked-receipt.repository';
import { indexParts, pickPart } from './receipt-match';
import { OrphanReceipt, e164Forms, tieOrphans } from './orphan-match';
import { StatusCallbackService } from './status-callback.service';
import { isUuid } from '../../infra/ids/uuid';

export interface ReceiptInput {
  envelope: ReceiptEnvelope;
  /** Set when the receipt comes from the parked table rather than Kafka. */
  parkedId?: number;
}

export interface ApplyOutcome {
  applied: number;
  parked: number;
  unapplied: number;
  /** Parked receipts (by parked id) settled now (matched, or kept as ambiguous), with their workspace. */
  matchedParked: { id: number; workspaceId: string | null }[];
  messages: AppliedChange[];
}

/** First retry of a parked receipt: soon, since the submit_sm_resp is usually milliseconds behind. */
export const PARK_RETRY_MS = 1_000;
/** A receipt is tied to a message whose answer was lost only if it came at most this long after. */
export const ORPHAN_MAX_AGE_MS = 72 * 3600_000;

// Error codes come from carriers; keep the label short and printable so a bad SMSC cannot blow up
// the series count or the exposition format.
function errorLabel(code: string | undefined): string {
  if (!code) return 'none';
  const c = code.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16);
  return c || 'none';
}

/** The handsets a receipt may name: its source address, or its destination where an SMSC swaps them. */
const addressesOf = (e: ReceiptEnvelope) => [e.recipient, e.sender];

function withoutNul(e: ReceiptEnvelope): ReceiptEnvelope {
  const strip = (v: string) => (v.includes('\u0000') ? v.split('\u0000').join(' ').trimEnd() : v);
  return {
    ...e,
    raw: strip(String(e.raw ?? '')),
    carrierMessageId: strip(String(e.carrierMessageId ?? '')),
    ...(typeof e.messageState === 'string' ? { messageState: strip(e.messageState) } : {}),
    ...(e.recipient ? { recipient: strip(e.recipient) } : {}),
    ...(e.sender ? { sender: strip(e.sender) } : {}),
  };
}

/** The change a receipt makes to its part, with the event that records it. */
function partChange(
  receipt: ParsedReceipt,
  connectorId: string,
  part: FoundPart,
  extra: Record<string, unknown> = {},
): Omit<PartStatusChange, 'at'> {
  return {
    messageId: part.messageId,
    partIndex: part.partIndex,
    status: receipt.status as MessageStatus,
    errorCode: receipt.isError ? receipt.errorCode : null,
    detail: receipt.isError ? `carrier ${receipt.stat ?? 'status'} err:${receipt.errorCode}` : null,
    event: {
      source: 'receipt',
      ...extra,
      connector: connectorId,
      carrier_message_id: part.carrierMessageId,
      stat: receipt.stat,
      ...(receipt.errorCode ? { err: receipt.errorCode } : {}),
      ...(receipt.doneAt ? { done_at: receipt.doneAt.toISOString() } : {}),
      part: part.partIndex,
      raw: receipt.raw.slice(0, 500),
    },
  };
}

@Injectable()
export class ReceiptApplier {
  private readonly receipts;
  private readonly latency;
  private readonly finals;
  private readonly stageSeconds;
  private readonly unmatched;
  private readonly unknownResolved;

  constructor(
    private readonly messages: PartOutcomeRepository,
    private readonly parked: ParkedReceiptRepository,
    private readonly unapplied: UnappliedReceiptRepository,
    private readonly callbacks: StatusCallbackService,
    private readonly connectors: ConnectorRegistry,
    private readonly config: ConfigService,
    private readonly log: AppLogger,
    metrics: MetricsService,
  ) {
    this.receipts = metrics.counter(
      METRICS.receipts.name,
      'Delivery receipts applied, by carrier, connector, our status and the carrier error code.',
      METRICS.receipts.labels,
    );
    this.latency = metrics.histogram(
      METRICS.receiptLatency.name,
      'Seconds from submit to the receipt that made the message final.',
      METRICS.receiptLatency.labels,
      [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 14400, 86400],
    );
    this.finals = metrics.counter(
      METRICS.messagesFinal.name,
      'Messages that reached a terminal status, by status and message type.',
      METRICS.messagesFinal.labels,
    );
    this.unmatched = metrics.counter(
      METRICS.receiptsUnmatched.name,
      'Receipts kept without changing a status, by connector and reason (no_match, no_open_part, part_final, no_id, unknown_state, unreadable).',
      METRICS.receiptsUnmatched.labels,
    );
    this.unknownResolved = metrics.counter(
      METRICS.unknownResolved.name,
      'Messages that had ended unknown (their submit answer lost) whose real outcome a receipt told later, by that outcome.',
      METRICS.unknownResolved.labels,
    );
    this.stageSeconds = metrics.histogram(
      METRICS.receiptStage.name,
      'Seconds one apply call (a batch of receipts) spends per stage: parse, find, apply, record.',
      METRICS.receiptStage.labels,
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
  }

  /**
   * `unmatchedRetryMs`: receipts from Kafka that match no part yet are looked up once more after
   * this long before they are parked. A receipt usually overtakes its submit's write by
   * milliseconds; parking it costs an insert now and a claim, an apply and an update later.
   */
  async apply(inputs: ReceiptInput[], opts: { unmatchedRetryMs?: number } = {}): Promise<ApplyOutcome> {
    const out: ApplyOutcome = { applied: 0, parked: 0, unapplied: 0, matchedParked: [], messages: [] };
    if (!inputs.length) return out;
    const t0 = performance.now();
    // Postgres text and jsonb cannot hold NUL, which C-string SMSCs leave in receipts.
    inputs = inputs.map((i) => ({ ...i, envelope: withoutNul(i.envelope) }));
    const parsed = inputs.map((i) => {
      const receipt = parseReceipt(i.envelope.raw ?? '', {
        receiptedMessageId: i.envelope.carrierMessageId,
        messageState: i.envelope.messageState,
      });
      const key = receiptKeyOf(this.connectors.receiptIdFormatOf(i.envelope.connectorId), receipt);
      return { ...i, receipt, key };
    });

    const t1 = performance.now();
    // One lookup for the whole batch, every connector: the open parts with any of its keys.
    const wanted = parsed.flatMap((p) =>
      p.key === undefined ? [] : [{ connectorId: p.envelope.connectorId, receiptKey: p.key }],
    );
    const index = indexParts(await this.messages.findPartsByReceiptKeys(wanted));
    const partOf = (p: (typeof parsed)[number]) =>
      pickPart(
        { connectorId: p.envelope.connectorId, key: p.key, addresses: addressesOf(p.envelope) },
        index,
      );

    const t2 = performance.now();
    const changes: (PartStatusChange & { input: (typeof parsed)[number]; part: FoundPart })[] = [];
    const counted: { part: FoundPart; receipt: ParsedReceipt; connectorId: string }[] = [];
    const toPark: ReceiptInput[] = [];
    const keep: UnappliedReceipt[] = [];
    const orphans: typeof parsed = [];
    for (const p of parsed) {
      const { envelope, receipt } = p;
      const at = new Date(envelope.receivedAt || Date.now());
      if (p.key === undefined) {
        keep.push(this.unappliedOf(p, 'no_id', undefined, at));
        continue;
      }
      const part = partOf(p);
      if (!part) {
        if (p.parkedId === undefined) toPark.push(p);
        else if (receipt.status !== 'unknown') orphans.push(p);
        continue;
      }
      if (p.parkedId !== undefined) out.matchedParked.push({ id: p.parkedId, workspaceId: part.workspaceId });
      counted.push({ part, receipt, connectorId: envelope.connectorId });
      if (receipt.status === 'unknown') {
        keep.push(this.unappliedOf(p, 'unknown_state', part, at));
        continue;
      }
      changes.push({
        input: p,
        part,
        ...partChange(receipt, envelope.connectorId, part),
        at,
      });
    }

    if (orphans.length) {
      const tied = await this.tieOrphans(orphans);
      changes.push(...tied.changes);
      keep.push(...tied.keep);
      out.matchedParked.push(...tied.settled);
    }

    const rule = this.config.env.PARLEY_MULTIPART_RULE;
    const t3 = performance.now();
    const result = await this.messages.applyPartStatuses(changes, { rule });
    const t4 = performance.now();
    // A change the state machine refused: its part went final meanwhile (a receipt sent twice, or
    // another final one first). Kept with the message it names, never applied over the first.
    if (result.refused.length) {
      const refused = new Set(result.refused.map((r) => `${r.messageId}#${r.partIndex}`));
      for (const c of changes) {
        if (refused.has(`${c.messageId}#${c.partIndex}`))
          keep.push(this.unappliedOf(c.input, 'part_final', c.part, c.at));
      }
    }
    await this.keepUnapplied(keep);
    let again: ApplyOutcome | undefined;
    if (toPark.length && opts.unmatchedRetryMs) {
      await new Promise((r) => setTimeout(r, opts.unmatchedRetryMs));
      again = await this.apply(toPark.map(({ envelope }) => ({ envelope })));
    } else {
      await this.parked.park(
        toPark.map((p) => p.envelope),
        PARK_RETRY_MS,
      );
    }
    // Callbacks are recorded before the caller resolves offsets, so a crash re-reads the receipt
    // rather than losing the callback (a change already applied is not reported twice).
    await this.callbacks.notify(result.messages);
    const t5 = performance.now();
    this.stageSeconds.observe({ stage: 'parse' }, (t1 - t0 + t3 - t2) / 1000);
    this.stageSeconds.observe({ stage: 'find' }, (t2 - t1) / 1000);
    this.stageSeconds.observe({ stage: 'apply' }, (t4 - t3) / 1000);
    this.stageSeconds.observe({ stage: 'record' }, (t5 - t4) / 1000);

    for (const c of counted) {
      this.receipts.inc({
        carrier: c.part.carrierId ?? 'unknown',
        connector: c.connectorId,
        status: c.receipt.status,
        error_code: c.receipt.isError ? errorLabel(c.receipt.errorCode) : 'none',
      });
    }
    for (const m of result.messages) {
      if (!isTerminal(m.status)) continue;
      // A message that was `unknown` was counted final then; its real outcome is counted apart.
      if (m.previousStatus === 'unknown') this.unknownResolved.inc({ status: m.status });
      else this.finals.inc({ status: m.status, type: m.type });
      if (m.submittedAt) {
        const seconds = (m.at.getTime() - m.submittedAt.getTime()) / 1000;
        if (seconds >= 0)
          this.latency.observe(
            { carrier: m.carrierId ?? 'unknown', connector: m.connectorId ?? 'unknown' },
            seconds,
          );
      }
    }
    if (toPark.length && !again)
      this.log.debug({ parked: toPark.length }, 'receipts parked until their submit is stored');
    out.applied = result.parts.length + (again?.applied ?? 0);
    out.parked = again ? again.parked : toPark.length;
    out.unapplied = keep.length + (again?.unapplied ?? 0);
    out.messages = again ? [...result.messages, ...again.messages] : result.messages;
    return out;
  }

  /**
   * Parked receipts whose id matches no part, tied to the one message whose carrier answer was lost
   * that fits each (orphan-match.ts): the part is recorded from the receipt, and the change is
   * applied with the rest of the batch. Several fitting: kept as `ambiguous`, nothing guessed.
   * None: left parked (the message may not be past its grace yet).
   */
  private async tieOrphans(
    orphans: (ReceiptInput & { receipt: ParsedReceipt; key: string | undefined })[],
  ): Promise<{
    changes: (PartStatusChange & { input: (typeof orphans)[number]; part: FoundPart })[];
    keep: UnappliedReceipt[];
    settled: { id: number; workspaceId: string | null }[];
  }> {
    const receipts: OrphanReceipt[] = orphans.map((p) => ({
      connectorId: p.envelope.connectorId,
      addresses: addressesOf(p.envelope),
      messageId: isUuid(p.envelope.parleyMessageId) ? p.envelope.parleyMessageId : undefined,
    }));
    type Lookup = { i: number; connectorId: string; to: string | null; messageId: string | null; at: Date };
    const lookups = receipts.flatMap((r, i): Lookup[] => {
      const at = new Date(orphans[i].envelope.receivedAt || Date.now());
      if (r.messageId) return [{ i, connectorId: r.connectorId, to: null, messageId: r.messageId, at }];
      const forms = [...new Set(r.addresses.flatMap(e164Forms))];
      return forms.map((to) => ({ i, connectorId: r.connectorId, to, messageId: null, at }));
    });
    const found = await this.messages.findOrphanCandidates(
      lookups,
      this.config.env.PARLEY_RECEIPT_ORPHAN_AFTER_SECONDS * 1000,
      ORPHAN_MAX_AGE_MS,
    );
    const byReceipt = new Map<number, typeof found>();
    for (const c of found) byReceipt.set(c.i, [...(byReceipt.get(c.i) ?? []), c]);
    const verdicts = tieOrphans(
      receipts,
      (i) => byReceipt.get(i) ?? [],
      (connectorId, segments) => this.connectors.partsPerMessage(connectorId, segments),
    );
    const keep: UnappliedReceipt[] = [];
    const settled: { id: number; workspaceId: string | null }[] = [];
    const tied: { p: (typeof orphans)[number]; part: FoundPart; expected: number; byId: boolean }[] = [];
    verdicts.forEach((v, i) => {
      const p = orphans[i];
      const at = new Date(p.envelope.receivedAt || Date.now());
      if (v.kind === 'ambiguous') {
        const row = this.unappliedOf(p, 'ambiguous', undefined, at);
        keep.push({
          ...row,
          raw: `${row.raw} [fits ${v.messageIds.length} messages: ${v.messageIds.join(' ')}]`,
        });
        settled.push({ id: p.parkedId!, workspaceId: null });
      } else if (v.kind === 'match') {
        const c = v.candidate;
        tied.push({
          p,
          byId: receipts[i].messageId !== undefined,
          expected: this.connectors.partsPerMessage(p.envelope.connectorId, c.segments),
          part: {
            messageId: c.messageId,
            workspaceId: c.workspaceId,
            partIndex: v.partIndex,
            carrierMessageId: p.envelope.carrierMessageId,
            receiptKey: p.key!,
            connectorId: p.envelope.connectorId,
            status: 'submitted',
            errorCode: null,
            submittedAt: c.submittingAt,
            doneAt: null,
            messageStatus: 'submitting',
            carrierId: null,
            to: c.to,
            sender: c.sender,
            type: 'transactional',
            parts: c.parts + 1,
          },
        });
      }
    });
    const added = await this.messages.addOrphanParts(tied.map((t) => t.part));
    const changes = tied
      .filter((t) => added.has(`${t.part.messageId}#${t.part.partIndex}`))
      .map(({ p, part, expected, byId }) => {
        settled.push({ id: p.parkedId!, workspaceId: part.workspaceId });
        const { receipt, envelope } = p;
        return {
          input: p,
          part,
          expectedParts: expected,
          // Its carrier id was never stored: tied by what the fence recorded.
          ...partChange(receipt, envelope.connectorId, part, {
            matched_by: byId ? 'message_id' : 'connector_recipient_time',
          }),
          at: new Date(envelope.receivedAt || Date.now()),
        };
      });
    if (changes.length || keep.length)
      this.log.info(
        { tied: changes.length, ambiguous: keep.length },
        'receipts tied to messages whose submit answer was lost',
      );
    return { changes, keep, settled };
  }

  /**
   * Receipts that never matched an open part, given up on: kept as unapplied, `no_open_part` (and
   * linked to the message it names, so the message shows it) when a final part has its id,
   * `no_match` otherwise. A final status is never reopened by them.
   */
  async giveUp(envelopes: ReceiptEnvelope[]): Promise<UnappliedReceipt[]> {
    const parsed = envelopes.map((envelope) => {
      const e = withoutNul(envelope);
      const receipt = parseReceipt(e.raw ?? '', {
        receiptedMessageId: e.carrierMessageId,
        messageState: e.messageState,
      });
      return {
        envelope: e,
        receipt,
        key: receiptKeyOf(this.connectors.receiptIdFormatOf(e.connectorId), receipt),
      };
    });
    const wanted = parsed.flatMap((p) =>
      p.key === undefined ? [] : [{ connectorId: p.envelope.connectorId, receiptKey: p.key }],
    );
    const finals = indexParts(await this.messages.findPartsByReceiptKeys(wanted, false));
    const rows = parsed.map((p) => {
      const at = new Date(p.envelope.receivedAt || Date.now());
      if (p.key === undefined) return this.unappliedOf(p, 'no_id', undefined, at);
      const part = pickPart(
        { connectorId: p.envelope.connectorId, key: p.key, addresses: addressesOf(p.envelope) },
        finals,
      );
      return this.unappliedOf(p, part ? 'no_open_part' : 'no_match', part, at);
    });
    await this.keepUnapplied(rows);
    return rows;
  }

  /**
   * Keeps receipts that change no status, with their reason, and counts them: a rising count of
   * `no_match` or `no_open_part` is an SMSC whose ids are read in the wrong form (alerted on).
   */
  async keepUnapplied(rows: UnappliedReceipt[]): Promise<void> {
    if (!rows.length) return;
    await this.unapplied.insert(rows);
    for (const r of rows) this.unmatched.inc({ connector: r.connectorId ?? 'unknown', reason: r.reason });
  }

  private unappliedOf(
    p: ReceiptInput & { receipt: ParsedReceipt },
    reason: UnappliedReason,
    part: FoundPart | undefined,
    at: Date,
  ): UnappliedReceipt {
    return {
      workspaceId: part?.workspaceId ?? null,
      messageId: part?.messageId ?? null,
      connectorId: p.envelope.connectorId ?? null,
      carrierMessageId: part?.carrierMessageId ?? p.envelope.carrierMessageId ?? null,
      reason,
      stat: p.receipt.stat ?? null,
      raw: p.receipt.raw || String(p.envelope.messageState ?? ''),
      recipient: p.envelope.recipient ?? null,
      receivedAt: at,
    };
  }
}
