// The status-callback outbox: one row per status change to report, delivered strictly in order
// per message. The row is the durable record; BullMQ only decides when to try again.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';
import { CallbackState } from './receipts.tables';

export interface NewCallback {
  workspaceId: string;
  messageId: string;
  eventKey: string;
  url: string;
  body: string;
}

export interface PendingCallback {
  id: number;
  workspaceId: string;
  messageId: string;
  url: string;
  body: string;
  attempts: number;
  createdAt: Date;
}

@Injectable()
export class StatusCallbackRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /** Records callbacks; returns the ids of the ones that were new (a repeated change is one row). */
  async insert(rows: NewCallback[]): Promise<{ id: number; messageId: string; workspaceId: string }[]> {
    if (!rows.length) return [];
    const r = await this.db
      .insertInto('status_callbacks')
      .values(
        rows.map((c) => ({
          workspace_id: c.workspaceId,
          message_id: c.messageId,
          event_key: c.eventKey,
          url: c.url,
          body: c.body,
          last_error: null,
          last_status_code: null,
          locked_until: null,
          finished_at: null,
        })),
      )
      .onConflict((oc) => oc.column('event_key').doNothing())
      .returning(['id', 'message_id', 'workspace_id'])
      .execute();
    return r.map((x) => ({ id: x.id, messageId: x.message_id, workspaceId: x.workspace_id }));
  }

  /**
   * Claims the oldest pending callback of a message, unless another worker holds it. Only the
   * oldest is ever claimable, which is what keeps one message's callbacks in order.
   */
  async claimNext(messageId: string, lockMs: number): Promise<PendingCallback | 'busy' | undefined> {
    const head = await this.db
      .selectFrom('status_callbacks')
      .select(['id', 'locked_until'])
      .where('message_id', '=', messageId)
      .where('state', '=', 'pending')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (!head) return undefined;
    const r = await this.db
      .updateTable('status_callbacks')
      .set({ locked_until: sql<Date>`now() + ${lockMs}::bigint * interval '1 millisecond'` })
      .where('id', '=', head.id)
      .where('state', '=', 'pending')
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
      .returning(['id', 'workspace_id', 'message_id', 'url', 'body', 'attempts', 'created_at'])
      .executeTakeFirst();
    if (!r) return 'busy';
    return {
      id: r.id,
      workspaceId: r.workspace_id,
      messageId: r.message_id,
      url: r.url,
      body: r.body,
      attempts: r.attempts,
      createdAt: r.created_at,
    };
  }

  /** Ends a callback (delivered, abandoned after its deadline, or refused by the URL rules). */
  async finish(id: number, state: Exclude<CallbackState, 'pending'>, statusCode?: number, error?: string) {
    await this.db
      .updateTable('status_callbacks')
      .set((eb) => ({
        state,
        attempts: eb('attempts', '+', 1),
        last_status_code: statusCode ?? null,
        last_error: error ?? null,
        locked_until: null,
        finished_at: sql<Date>`now()`,
      }))
      .where('id', '=', id)
      .execute();
  }

  /** Records a failed attempt and releases the claim so the next try (any worker) can take it. */
  async failed(id: number, statusCode: number | undefined, error: string) {
    await this.db
      .updateTable('status_callbacks')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_status_code: statusCode ?? null,
        last_error: error.slice(0, 500),
        locked_until: null,
      }))
      .where('id', '=', id)
      .execute();
  }

  /** A workspace's recent callbacks (for the API and tests). */
  recent(workspaceId: string, messageId?: string) {
    let q = this.db
      .selectFrom('status_callbacks')
      .select([
        'id',
        'message_id',
        'url',
        'state',
        'attempts',
        'last_status_code',
        'last_error',
        'created_at',
        'finished_at',
      ])
      .where('workspace_id', '=', workspaceId);
    if (messageId) q = q.where('message_id', '=', messageId);
    return q.orderBy('id', 'desc').limit(100).execute();
  }
}
