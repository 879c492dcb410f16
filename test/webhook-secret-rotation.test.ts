// Webhook secret rotations keep at most two secrets live: the current one and the one it replaced
// (valid for its grace period). A rotation while two are live retires the older at once, so a
// leaked secret stops signing after two rotations however often they come.
import { describe, expect, it } from 'vitest';
import { createDb } from '../src/infra/db/db';
import { engineForFile } from './support/engine';

const file = engineForFile();

describe('webhook secret rotation', () => {
  it('keeps the current and the previous secret only, retiring the oldest at once', async () => {
    const first = (await file.api.get('/v1/workspace/webhook-secret')).body.secret as string;
    const second = await file.api.post('/v1/workspace/webhook-secret/rotate');
    expect(second.status).toBe(201);
    expect(second.body.previous).toHaveLength(1);
    const third = await file.api.post('/v1/workspace/webhook-secret/rotate');
    expect(third.status).toBe(201);
    expect(third.body.secret).not.toBe(second.body.secret);
    // The previous one is the second secret, still in its 24-hour grace period.
    expect(third.body.previous).toHaveLength(1);
    expect(new Date(third.body.previous[0].created_at).getTime()).toBe(
      new Date(second.body.created_at).getTime(),
    );
    expect(new Date(third.body.previous[0].expires_at).getTime() - Date.now()).toBeGreaterThan(
      23.9 * 3600_000,
    );
    const fourth = await file.api.post('/v1/workspace/webhook-secret/rotate');
    expect(fourth.body.previous).toHaveLength(1);

    // In the database: exactly two live, and the first and second secrets no longer valid.
    const db = createDb(file.engine.env.DATABASE_URL, 1);
    try {
      const live = await db
        .selectFrom('webhook_secrets')
        .select(['secret'])
        .where('workspace_id', '=', file.api.workspaceId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]))
        .execute();
      const secrets = live.map((r) => r.secret).sort();
      expect(secrets).toEqual([third.body.secret, fourth.body.secret].sort());
      expect(secrets).not.toContain(first);
      expect(secrets).not.toContain(second.body.secret);
    } finally {
      await db.destroy();
    }
  });

  it('rotations that race still leave at most two live secrets', async () => {
    const other = await file.engine.workspace();
    await other.get('/v1/workspace/webhook-secret');
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => other.post('/v1/workspace/webhook-secret/rotate')),
    );
    for (const a of answers) expect(a.status).toBe(201);
    const now = await other.get('/v1/workspace/webhook-secret');
    expect(now.body.previous.length).toBeLessThanOrEqual(1);
  });
});
