// Campaign helpers shared by the campaign, scale and chaos scenarios: an opted-in audience imported
// through the API (CSV), a marketing campaign created and launched with quiet hours that do not
// hold (every contact's time zone is one where it is daytime now), and its progress from the DB.
import { sql } from 'kysely';
import type { Db } from '../../src/infra/db/db';
import { Api, daytimeZone, log, now, numberAt, sleep, waitFor } from './harness';

export interface Audience {
  audienceId: string;
  numbers: string[];
  importSeconds: number;
}

/** Imports `n` opted-in contacts (half +1202, half +1303) through POST /v1/audiences/:id/imports. */
export async function importAudience(
  api: Api,
  n: number,
  offset = 0,
  timeoutMs = 600_000,
): Promise<Audience> {
  const tz = daytimeZone();
  const numbers: string[] = [];
  const lines = ['phone,first_name,timezone,opted_in_at,consent_source'];
  const names = ['Ann', 'Bob', 'Chloe', 'Dmitri', 'Eve', 'Farah'];
  for (let i = 0; i < n; i++) {
    const e164 = numberAt(i % 2 ? '+1303' : '+1202', offset + i);
    numbers.push(e164);
    lines.push(`${e164},${names[i % names.length]},${tz},2025-06-01T12:00:00Z,web form`);
  }
  const aud = await api.must<{ id: string }>('POST', '/v1/audiences', { name: `bench ${n} ${Date.now()}` });
  const t0 = now();
  const job = await api.must<{ id: string }>(
    'POST',
    `/v1/audiences/${aud.id}/imports?default_country=US`,
    lines.join('\n') + '\n',
    {
      'content-type': 'text/csv',
    },
  );
  const done = await waitFor(
    async () => {
      const j = await api.get<{ status: string; imported?: number; invalid?: number }>(
        `/v1/imports/${job.id}`,
      );
      return j.body?.status === 'completed' || j.body?.status === 'failed' ? j.body : undefined;
    },
    timeoutMs,
    300,
  );
  if (!done || done.status !== 'completed')
    throw new Error(`import ${job.id} did not complete: ${JSON.stringify(done)}`);
  const importSeconds = (now() - t0) / 1000;
  log(`imported ${n} contacts (time zone ${tz}) in ${importSeconds.toFixed(1)} s: ${JSON.stringify(done)}`);
  return { audienceId: aud.id, numbers, importSeconds };
}

export interface Launched {
  campaignId: string;
  recipients: number;
  launchedAt: number;
}

export async function launchCampaign(
  api: Api,
  audienceId: string,
  opts: { from: string; name?: string; body?: string; beforeLaunch?: () => void },
): Promise<Launched> {
  const t0 = now();
  const created = await api.must<{ id: string; plan?: { recipients?: number } }>('POST', '/v1/campaigns', {
    name: opts.name ?? `bench ${Date.now()}`,
    audience_id: audienceId,
    from: opts.from,
    type: 'marketing',
    body: opts.body ?? 'Hi {{first_name|there}}, this week only: 20% off everything. Reply STOP to opt out.',
  });
  log(`campaign created with its launch plan in ${((now() - t0) / 1000).toFixed(1)} s`);
  opts.beforeLaunch?.();
  const launchedAt = now();
  await api.must('POST', `/v1/campaigns/${created.id}/launch`, {});
  const recipients = Number(created.plan?.recipients ?? 0);
  return { campaignId: created.id, recipients, launchedAt };
}

export async function campaignRow(db: Db, id: string) {
  const r = await sql<{
    status: string;
    recipients: number;
    excluded: number;
    expanded: number;
    launched_at: Date | null;
    expanded_at: Date | null;
    completed_at: Date | null;
  }>`
    select status, recipients, excluded, expanded, launched_at, expanded_at, completed_at from campaigns where id = ${id}`.execute(
    db,
  );
  return r.rows[0];
}

/** Samples the campaign's `expanded` counter until it reaches `recipients`; returns the rate. */
export async function watchExpansion(
  db: Db,
  c: Launched,
  timeoutMs: number,
): Promise<{ rate: number; seconds: number; expanded: number; recipients: number }> {
  let row = await campaignRow(db, c.campaignId);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    row = await campaignRow(db, c.campaignId);
    if (row?.expanded_at) break;
    await sleep(200);
  }
  const recipients = row?.recipients || c.recipients;
  const seconds = (now() - c.launchedAt) / 1000;
  // The expander stamps expanded_at in the DB; prefer the DB's own times when both are there.
  const dbSeconds =
    row?.launched_at && row?.expanded_at
      ? (row.expanded_at.getTime() - row.launched_at.getTime()) / 1000
      : seconds;
  const secs = dbSeconds > 0 ? dbSeconds : seconds;
  return { rate: (row?.expanded ?? 0) / secs, seconds: secs, expanded: row?.expanded ?? 0, recipients };
}
