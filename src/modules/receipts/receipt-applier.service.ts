// Turns raw receipts into message statuses: parse, find the part by any form of the carrier id,
// apply part statuses (the repository adds multipart messages up by the configured rule), then
// metrics and customer callbacks. Receipts that match nothing yet are parked, receipts whose state
// cannot be mapped are kept as unapplied; none is dropped. Used by the Kafka consumer and by the
// parked-receipt retry, so both take exactly the same path.
import { Injectable } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { METRICS } from '../../infra/metrics/metric-names';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { AppLogger } from '../../infra/logging/app-logger';
import {
  AppliedChange,
  FoundPart,
  MessageRepository,
  PartStatusChange,
} from '../messages/message.repository';
import { MessageStatus, ReceiptEnvelope, isTerminal } from '../messages/message.types';
import { ParsedReceipt, parseReceipt } from './dlr-parser';
import {
  ParkedReceiptRepository,
  UnappliedReceipt,
  UnappliedReceiptRepository,
} from './parked-receipt.repository';
import { StatusCallbackService } from './status-callback.service';

export interface ReceiptInput {
  envelope: ReceiptEnvelope;
  /** Set when the receipt comes from the parked table rather than Kafka. */
  parkedId?: number;
}

export interface ApplyOutcome {
  applied: number;
  parked: number;
  unapplied: number;
  /** Parked receipts (by parked id) that matched now, with their workspace. */
  matchedParked: { id: number; workspaceId: string }[];
  messages: AppliedChange[];
}

/** First retry of a parked receipt: soon, since the submit_sm_resp is usually milliseconds behind. */
export const PARK_RETRY_MS = 1_000;

// Error codes come from carriers; keep the label short and printable so a bad SMSC cannot blow up
// the series count or the exposition format.
function errorLabel(code: string | undefined): string {
  if (!code) return 'none';
  const c = code.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16);
  return c || 'none';
}

function withoutNul(e: ReceiptEnvelope): ReceiptEnvelope {
  const strip = (v: string) => (v.includes('\u0000') ? v.split('\u0000').join(' ').trimEnd() : v);
  return {
    ...e,
    raw: strip(String(e.raw ?? '')),
    carrierMessageId: strip(String(e.carrierMessageId ?? '')),
    ...(typeof e.messageState === 'string' ? { messageState: strip(e.messageState) } : {}),
    ...(e.recipient ? { recipient: strip(e.recipient) } : {}),
  };
}

@Injectable()
export class ReceiptApplier {
  private readonly receipts;
  private readonly latency;
  private readonly finals;
  private readonly stageSeconds;

  constructor(
    private readonly messages: MessageRepository,
    private readonly parked: ParkedReceiptRepository,
    private readonly unapplied: UnappliedReceiptRepository,
    private readonly callbacks: StatusCallbackService,
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
    const parsed = inputs.map((i) => ({
      ...i,
      receipt: parseReceipt(i.envelope.raw ?? '', {
        receiptedMessageId: i.envelope.carrierMessageId,
        messageState: i.envelope.messageState,
      }),
    }));

    const t1 = performance.now();
    // One lookup per connector with every form of every id in the batch.
    const byConnector = new Map<string, Set<string>>();
    for (const p of parsed) {
      const set = byConnector.get(p.envelope.connectorId) ?? new Set<string>();
      for (const id of p.receipt.idCandidates) set.add(id);
      byConnector.set(p.envelope.connectorId, set);
    }
    const found = new Map<string, FoundPart>();
    for (const [connectorId, ids] of byConnector) {
      if (!ids.size) continue;
      for (const part of await this.messages.findPartsByCarrierIds(connectorId, [...ids])) {
        found.set(`${connectorId}\u0000${part.carrierMessageId}`, part);
      }
    }
    const partOf = (connectorId: string, r: ParsedReceipt) => {
      for (const id of r.idCandidates) {
        const hit = found.get(`${connectorId}\u0000${id}`);
        if (hit) return hit;
      }
      return undefined;
    };

    const t2 = performance.now();
    const changes: PartStatusChange[] = [];
    const counted: { part: FoundPart; receipt: ParsedReceipt; connectorId: string }[] = [];
    const toPark: ReceiptInput[] = [];
    const keep: UnappliedReceipt[] = [];
    for (const p of parsed) {
      const { envelope, receipt } = p;
      const at = new Date(envelope.receivedAt || Date.now());
      if (!receipt.idCandidates.length) {
        keep.push(this.unappliedOf(p, 'no_id', undefined, at));
        continue;
      }
      const part = partOf(envelope.connectorId, receipt);
      if (!part) {
        if (p.parkedId === undefined) toPark.push(p);
        continue;
      }
      if (p.parkedId !== undefined) out.matchedParked.push({ id: p.parkedId, workspaceId: part.workspaceId });
      counted.push({ part, receipt, connectorId: envelope.connectorId });
      if (receipt.status === 'unknown') {
        keep.push(this.unappliedOf(p, 'unknown_state', part, at));
        continue;
      }
      changes.push({
        connectorId: envelope.connectorId,
        carrierMessageId: part.carrierMessageId,
        status: receipt.status as MessageStatus,
        errorCode: receipt.isError ? receipt.errorCode : null,
        detail: receipt.isError ? `carrier ${receipt.stat ?? 'status'} err:${receipt.errorCode}` : null,
        event: {
          source: 'receipt',
          connector: envelope.connectorId,
          carrier_message_id: part.carrierMessageId,
          stat: receipt.stat,
          ...(receipt.errorCode ? { err: receipt.errorCode } : {}),
          ...(receipt.doneAt ? { done_at: receipt.doneAt.toISOString() } : {}),
          part: part.partIndex,
          raw: receipt.raw.slice(0, 500),
        },
        at,
      });
    }

    const rule = this.config.env.PARLEY_MULTIPART_RULE;
    const t3 = performance.now();
    const result = await this.messages.applyPartStatuses(changes, { rule });
    const t4 = performance.now();
    // A part found a moment ago and gone now (message deleted) behaves like not found yet.
    if (result.unmatched.length) {
      const gone = new Set(result.unmatched.map((u) => `${u.connectorId}\u0000${u.carrierMessageId}`));
      for (const p of parsed) {
        const part = partOf(p.envelope.connectorId, p.receipt);
        if (
          part &&
          gone.has(`${p.envelope.connectorId}\u0000${part.carrierMessageId}`) &&
          p.parkedId === undefined
        )
          toPark.push(p);
      }
    }
    await this.unapplied.insert(keep);
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
      this.finals.inc({ status: m.status, type: m.type });
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

  private unappliedOf(
    p: ReceiptInput & { receipt: ParsedReceipt },
    reason: UnappliedReceipt['reason'],
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
      receivedAt: at,
    };
  }
}
