// Each workspace's signing secrets for status callbacks: one current, and rotated ones that keep
// signing until they expire so receivers can switch without a gap.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { Db } from '../../infra/db/db';
import { InjectDb } from '../../infra/db/db.module';

export interface WebhookSecret {
  secret: string;
  createdAt: Date;
  expiresAt: Date | null;
}

@Injectable()
export class WebhookSecretRepository {
  constructor(@InjectDb() private readonly db: Db) {}

  /** The current secret and every rotated one still valid, newest first. */
  async valid(workspaceId: string): Promise<WebhookSecret[]> {
    const rows = await this.db
      .selectFrom('webhook_secrets')
      .select(['secret', 'created_at', 'expires_at'])
      .where('workspace_id', '=', workspaceId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({ secret: r.secret, createdAt: r.created_at, expiresAt: r.expires_at }));
  }

  /** Creates the current secret unless one exists (a concurrent creator wins harmlessly). */
  async ensureCurrent(workspaceId: string, secret: string): Promise<void> {
    await sql`insert into webhook_secrets (workspace_id, secret) values (${workspaceId}, ${secret})
              on conflict (workspace_id) where expires_at is null do nothing`.execute(this.db);
  }

  /**
   * Retires the current secret (valid for `graceMs` more) and makes `secret` current, atomically.
   * At most two secrets are live: a previous one still in its grace period ends now, so repeated
   * rotations cannot pile up valid secrets (a leaked one must stop working after two rotations).
   */
  async rotate(workspaceId: string, secret: string, graceMs: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      // Two rotations at once would both retire the same secret and then collide on "one current".
      await sql`select pg_advisory_xact_lock(hashtext(${'webhook-secret:' + workspaceId}))`.execute(tx);
      await tx
        .updateTable('webhook_secrets')
        .set({ expires_at: sql<Date>`now()` })
        .where('workspace_id', '=', workspaceId)
        .where('expires_at', '>', sql<Date>`now()`)
        .execute();
      await tx
        .updateTable('webhook_secrets')
        .set({ expires_at: new Date(Date.now() + graceMs) })
        .where('workspace_id', '=', workspaceId)
        .where('expires_at', 'is', null)
        .execute();
      await tx
        .insertInto('webhook_secrets')
        .values({ workspace_id: workspaceId, secret, expires_at: null })
        .execute();
    });
  }
}
