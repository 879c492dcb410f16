// Receipts that arrived before their message's carrier id was stored (the submit_sm_resp and the
// deliver_sm race on different connections). Parked durably, retried until they match.
import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import type { ReceiptEnvelope } from '../messages/message.types';

export interface ParkedReceipt {
  id: number;
  envelope: ReceiptEnvelope;
  attempts: number;
  parkedAt: Date;
}

/**
 * Makes parking idempotent under Kafka redelivery. The recipient is part of it: after an SMSC
 * restart the same id and text can be a different message's receipt.
 */
type ParkedRow = { id: number; envelope: ReceiptEnvelope; attempts: number; parked_at: Date };

const toParked = (r: ParkedRow): ParkedReceipt => ({
  id: r.id,
  envelope: r.envelope,
  attempts: r.attempts,
  parkedAt: r.parked_at,
});

export function receiptKey(r: ReceiptEnvelope): string {
  return createHash('sha256')
    .update(
      [r.connectorId, r.carrierMessageId, String(r.messageState ?? ''), r.raw, r.recipient ?? ''].join(
        '\u0000',
      ),
    )
    .digest('hex');
}

@Injectable()
export class ParkedReceiptRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /** Parks receipts; the same receipt parked twice (Kafka redelivery) stays one row. */
  async park(receipts: ReceiptEnvelope[], retryInMs: number): Promise<void> {
    if (!receipts.length) return;
    const next = new Date(Date.now() + retryInMs);
    await this.db
      .insertInto('parked_receipts')
      .values(
        receipts.map((r) => ({
          workspace_id: null,
          connector_id: r.connectorId,
          carrier_message_id: r.carrierMessageId,
          receipt_key: receiptKey(r),
          envelope: JSON.stringify(r),
          next_attempt_at: next,
        })),
      )
      .onConflict((oc) => oc.column('receipt_key').doNothing())
      .execute();
  }

  /**
   * Claims a batch of due receipts: pushes their next attempt out (backing off with attempts) so a
   * second receipts process does not take the same rows at the same time.
   */
  async claimDue(limit: number, baseRetryMs: number, maxRetryMs: number): Promise<ParkedReceipt[]> {
    const rows = await sql<ParkedRow>`
      update parked_receipts p
         set attempts = p.attempts + 1,
             next_attempt_at = now() + least(${maxRetryMs}::bigint, ${baseRetryMs}::bigint * power(2, least(p.attempts, 20))::bigint) * interval '1 millisecond'
       where p.id in (select id from parked_receipts
                       where matched_at is null and next_attempt_at <= now()
                       order by next_attempt_at limit ${limit}
                       for update skip locked)
      returning p.id, p.envelope, p.attempts, p.parked_at`.execute(this.db);
    return rows.rows.map(toParked);
  }

  /** Marks parked receipts matched, recording the workspace they turned out to belong to. */
  async markMatched(matches: { id: number; workspaceId: string | null }[]): Promise<void> {
    if (!matches.length) return;
    await sql`
      update parked_receipts p set matched_at = now(), workspace_id = m.workspace_id
        from unnest(${matches.map((m) => m.id)}::bigint[], ${matches.map((m) => m.workspaceId)}::uuid[])
             as m(id, workspace_id)
       where p.id = m.id`.execute(this.db);
  }

  /**
   * Claims parked receipts that waited longer than `olderThanMs` without matching, for the caller to
   * keep as unapplied and then `remove`: their next attempt moves out of reach meanwhile, so a second
   * receipts process does not take them too, and a crash before `remove` only keeps one twice.
   */
  async claimExpired(olderThanMs: number, limit: number): Promise<ParkedReceipt[]> {
    const rows = await sql<ParkedRow>`
      update parked_receipts p set next_attempt_at = now() + interval '10 minutes'
       where p.id in (select id from parked_receipts
                       where matched_at is null
                         and parked_at < now() - ${olderThanMs}::bigint * interval '1 millisecond'
                       order by parked_at limit ${limit}
                       for update skip locked)
      returning p.id, p.envelope, p.attempts, p.parked_at`.execute(this.db);
    return rows.rows.map(toParked);
  }

  async remove(ids: readonly number[]): Promise<void> {
    if (!ids.length) return;
    await this.db
      .deleteFrom('parked_receipts')
      .where('id', 'in', [...ids])
      .execute();
  }

  /** Receipts still waiting for their message. */
  async countWaiting(): Promise<number> {
    const r = await this.db
      .selectFrom('parked_receipts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('matched_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Matched rows are a record for a while, then go. */
  async purgeMatched(olderThanMs: number): Promise<number> {
    const r = await this.db
      .deleteFrom('parked_receipts')
      .where('matched_at', '<', new Date(Date.now() - olderThanMs))
      .executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }
}

/**
 * Why a receipt changed no status: `no_match` (no part ever had its id), `no_open_part` (only final
 * parts have it: a late or repeated receipt, or one for a message reconciled without it),
 * `part_final` (its part went final first), `no_id`, `unknown_state`, `unreadable` (not a receipt),
 * `ambiguous` (its id matches nothing and several messages whose answer was lost fit it).
 */
export type UnappliedReason =
  'no_match' | 'no_open_part' | 'part_final' | 'no_id' | 'unknown_state' | 'unreadable' | 'ambiguous';

export interface UnappliedReceipt {
  workspaceId: string | null;
  messageId: string | null;
  connectorId: string | null;
  carrierMessageId: string | null;
  reason: UnappliedReason;
  stat: string | null;
  raw: string;
  recipient?: string | null;
  receivedAt: Date;
}

/** Receipts kept without changing a status (unmappable state, no id, unreadable record). */
@Injectable()
export class UnappliedReceiptRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  async insert(rows: UnappliedReceipt[]): Promise<void> {
    if (!rows.length) return;
    await this.db
      .insertInto('unapplied_receipts')
      .values(
        rows.map((r) => ({
          workspace_id: r.workspaceId,
          message_id: r.messageId,
          connector_id: r.connectorId,
          carrier_message_id: r.carrierMessageId,
          reason: r.reason,
          stat: r.stat,
          raw: r.raw,
          recipient: r.recipient ?? null,
          received_at: r.receivedAt,
        })),
      )
      .execute();
  }

  forMessage(workspaceId: string, messageId: string) {
    return this.db
      .selectFrom('unapplied_receipts')
      .select(['reason', 'stat', 'raw', 'received_at'])
      .where('workspace_id', '=', workspaceId)
      .where('message_id', '=', messageId)
      .orderBy('id')
      .execute();
  }
}
