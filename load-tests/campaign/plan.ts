// Launch-plan benchmark (issue 5): how long POST /v1/campaigns takes to plan an audience of N
// recipients (every recipient rendered, encoded, routed and checked for consent and quiet hours).
// The audience is written straight to Postgres (opted-in contacts, a few opted out, mixed time
// zones and a UCS-2 share) so sizes up to a million take seconds to set up; the first plan runs
// before autovacuum has analyzed the new rows, as it would right after a real import.
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/campaign/plan.js [--n 20000,100000]
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import {
  Api,
  ResultRow,
  SENDER,
  benchCarriers,
  benchDb,
  createWorkspace,
  fmt,
  log,
  now,
  spawnEngine,
  startSim,
  watchdog,
} from '../lib/harness';
import { failedRow, runScenario } from '../lib/bench-run';

const { values } = parseArgs({ options: { n: { type: 'string', default: '20000,100000' } } });
const SIZES = values.n!.split(',').map(Number);
const rows: ResultRow[] = [];
const details: string[] = [];
watchdog(20 * 60_000);

async function main() {
  const db = await benchDb();
  const sim = await startSim(benchCarriers({ alpha: 1_000_000, beta: 1_000_000 }), { seed: 5 });
  const engine = await spawnEngine('api', { PARLEY_CARRIERS_FILE: sim.file }, { name: 'engine' });
  try {
    for (const n of SIZES) {
      const ws = await createWorkspace(db, 'bench-plan');
      const aud = await sql<{ id: string }>`
        insert into audiences (workspace_id, name) values (${ws.workspaceId}, ${`plan ${n}`}) returning id`.execute(
        db,
      );
      const audienceId = aud.rows[0].id;
      const t0 = now();
      await sql`
        with c as (
          insert into contacts (workspace_id, e164, country, first_name, timezone, attributes)
          select ${ws.workspaceId}::uuid, '+1' || (array['202', '303'])[1 + i % 2] || (2000000 + i)::text,
                 'US', case when i % 7 = 0 then 'Zoë' else 'Ann' end,
                 case when i % 3 = 0 then 'America/New_York' end, jsonb_build_object('tier', 'gold')
            from generate_series(1, ${n}::int) i
          returning id, e164
        ), m as (
          insert into audience_members (workspace_id, audience_id, contact_id) select ${ws.workspaceId}::uuid, ${audienceId}::uuid, id from c
        )
        insert into consent_state (workspace_id, e164, sender_address, status, source, occurred_at)
        select ${ws.workspaceId}::uuid, e164, '', case when id % 50 = 0 then 'opted_out' else 'opted_in' end, 'bench', now() from c`.execute(
        db,
      );
      log(`${fmt(n)} contacts written in ${((now() - t0) / 1000).toFixed(1)} s`);
      const api = new Api(engine.url, ws.key);
      for (const run of ['first', 'second']) {
        const t = now();
        const res = await api.post<{
          plan: { recipients: number; excluded: { total: number }; segments_total: number };
        }>('/v1/campaigns', {
          name: `plan ${n} ${run}`,
          audience_id: audienceId,
          from: SENDER,
          type: 'marketing',
          body: 'Hi {{first_name|there}}, this week only: 20% off everything. Reply STOP to opt out.',
        });
        const secs = (now() - t) / 1000;
        if (res.status !== 201)
          throw new Error(`POST /v1/campaigns → ${res.status} ${JSON.stringify(res.body)}`);
        const p = res.body.plan;
        log(
          `plan of ${fmt(n)} (${run} run): ${secs.toFixed(2)} s → ${fmt(n / secs)} recipients/s; recipients ${p.recipients}, excluded ${p.excluded.total}, segments ${p.segments_total}`,
        );
        details.push(
          `plan (POST /v1/campaigns) of ${fmt(n)} contacts, ${run} run: ${secs.toFixed(2)} s (${fmt(n / secs)} recipients/s)`,
        );
        if (run === 'first')
          rows.push({
            scenario: 'campaign plan',
            size: `${fmt(n)} recipients`,
            rate: `${secs.toFixed(2)} s`,
            target: '-',
            verdict: 'pass',
            notes: `${fmt(n / secs)} recipients/s`,
          });
      }
    }
  } finally {
    await engine.kill('SIGTERM');
    await sim.stop();
    await db.destroy();
  }
}

runScenario(main, rows, {
  name: 'campaign-plan',
  details,
  failed: (err) => failedRow('campaign plan', SIZES.join(','), '-', err),
});
