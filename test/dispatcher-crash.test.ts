// Dispatcher processes killed with SIGKILL against the real stack and the carrier simulator over
// SMPP. Mid-run: nothing is lost and nothing reaches the carrier twice. Between submit and the
// carrier's answer being stored (answers held back, receipts sent meanwhile): every message ends
// as the simulator's journal says it went, its receipts tied to it by connector, handset and time
// (receipts/orphan-match.ts), and what no receipt can be tied to ends `unknown`, never `failed`.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, Db } from '../src/infra/db/db';
import { CarrierSimulator } from '../src/simulator/carrier-simulator';
import { SubmitReconciler } from '../src/modules/dispatch/submit-reconciler.service';
import type { MessageStatus } from '../src/modules/messages/message.types';
import { aggregateParts } from '../src/modules/messages/status-machine';
import { FAST, MID, Spec, carriersFile, numberUnder, send } from './support/dispatch-fixtures';
import { TestEngine, eventually, startEngine } from './support/engine';
import { spawnDispatcher } from './support/engine-process';
import { TEST_DATABASE_URL } from './support/env';

describe('dispatcher processes killed with SIGKILL', () => {
  let sim: CarrierSimulator;
  let engine: TestEngine;
  let db: Db;
  let file: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    sim = new CarrierSimulator({
      smppPort: 0,
      httpPort: 0,
      carriers: carriersFile(2775),
      journal: true,
      scenario: { seed: 11, receipt_delay_ms: { min: 400, max: 900 }, outcomes: { delivered: 1 } },
    });
    await sim.start();
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-dispatch-kill-'));
    file = path.join(dir, 'carriers.json');
    writeFileSync(file, JSON.stringify(carriersFile(sim.smppPort)));
    // This engine only applies receipts; the dispatchers are separate processes. A message fenced
    // 2 s ago with no answer stored counts as left open by a crash (60 s by default).
    engine = await startEngine({
      PARLEY_CARRIERS_FILE: file,
      PARLEY_ROLES: 'receipts',
      PARLEY_RECEIPT_ORPHAN_AFTER_SECONDS: '2',
    });
    db = createDb(TEST_DATABASE_URL, 2);
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await engine?.close();
    await db?.destroy();
    await sim?.stop();
  });

  function dispatcherProcess() {
    const d = spawnDispatcher(engine.env, file);
    children.push(d.child);
    return d;
  }

  const finalStatuses = async (ids: string[]) => {
    const r = await sql<{ status: string; error_code: string | null; n: number }>`
      select status, error_code, count(*)::int as n from messages where id = any(${ids}::uuid[])
      group by status, error_code order by status`.execute(db);
    return r.rows;
  };
  const countIn = async (ids: string[], statuses: string[]) => {
    const r = await sql<{ n: number }>`
      select count(*)::int as n from messages where id = any(${ids}::uuid[]) and status = any(${statuses}::text[])`.execute(
      db,
    );
    return r.rows[0].n;
  };

  it('loses nothing and sends nothing twice across a SIGKILL and a restart', async () => {
    const ws = (await engine.workspace()).workspaceId;
    const specs: Spec[] = [];
    for (let i = 0; i < 1500; i++) specs.push({ to: numberUnder(i % 3 ? MID : FAST), topic: 'sms.outbound' });
    const envs = await send(engine, ws, specs);
    const ids = envs.map((e) => e.id);
    const before = sim.stats();

    const first = dispatcherProcess();
    // Kill it mid-run: once some but not all messages reached the carrier.
    await eventually(async () => sim.stats().accepted - before.accepted >= 300, 30_000, 20);
    first.child.kill('SIGKILL');
    await first.exited;
    const sentBeforeKill = sim.stats().accepted - before.accepted;
    expect(sentBeforeKill).toBeLessThan(1500);

    const second = dispatcherProcess();
    try {
      // Everything leaves `accepted`: the new dispatcher takes (and sends) whatever the killed one
      // had not fenced. Only what the killed process fenced right before its end may stay
      // `submitting` (it may be at the carrier).
      await eventually(async () => (await countIn(ids, ['accepted', 'queued'])) === 0, 90_000, 250);
      // Receipts of what was submitted arrive; then the reconciler ends what has no outcome.
      const pendingReceipts = async () => {
        const r = await sql<{ n: number; partless: number }>`
          select count(*)::int as n,
                 count(*) filter (where not exists (select 1 from message_parts p where p.message_id = m.id))::int as partless
          from messages m where m.id = any(${ids}::uuid[]) and m.status in ('submitted', 'sent')`.execute(db);
        return r.rows[0];
      };
      await eventually(async () => (await pendingReceipts()).n === 0, 45_000, 250).catch(() => undefined);
      const waiting = await pendingReceipts();
      const reconciled = await engine.app.get(SubmitReconciler).reconcile(0, { workspaceId: ws });
      const final = await finalStatuses(ids);
      const st = sim.stats();
      const accepted = st.accepted - before.accepted;
      console.log(
        `kill test: ${sentBeforeKill} accepted by the carrier before SIGKILL, ${accepted} in all, ` +
          `${st.duplicates} duplicates; reconciled ${reconciled}; still awaiting a receipt ${waiting.n} ` +
          `(${waiting.partless} without parts); final ${JSON.stringify(final)}`,
      );
      expect(st.duplicates).toBe(0);
      // `submitted` without parts can never match a receipt by its id: the status and the parts
      // are recorded together (DispatchRecordRepository.markSubmitted), even when the process dies between.
      expect(waiting.partless, 'submitted messages without parts').toBe(0);
      expect(waiting.n).toBe(0);
      expect(final.every((r) => ['delivered', 'unknown'].includes(r.status))).toBe(true);
      expect(
        final.filter((r) => r.status === 'unknown').every((r) => r.error_code === 'submit_outcome_unknown'),
      ).toBe(true);
      expect(final.reduce((s, r) => s + r.n, 0)).toBe(1500);
      // Every message reached the carrier at most once; the delivered ones exactly once.
      const delivered = final.find((r) => r.status === 'delivered')?.n ?? 0;
      expect(accepted).toBeGreaterThanOrEqual(delivered);
      expect(accepted).toBeLessThanOrEqual(1500);
      // Nothing the killed process had not fenced is lost: the new dispatcher takes and sends it.
      // What never reached the carrier is at most what was on its way (the connector's window:
      // 2 binds × 100, cut off with the process) and the chunks fenced a lead ahead of their send
      // time, a few per lane (two lanes here), not the reserved look-ahead.
      expect(1500 - accepted, 'messages that never reached the carrier').toBeLessThanOrEqual(
        2 * 100 + 2 * 32,
      );
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 180_000);

  it('ends every message as the carrier took it when the dispatcher dies before storing its answers', async () => {
    // The carrier holds its submit answers back 2.5 s (under the connector's 3 s timeout) and sends
    // receipts 0.2–0.6 s after taking a message: the dispatcher is killed while a window full of
    // answers is on its way, so the receipts of those messages name carrier ids never stored.
    sim.applyScenario({
      seed: 23,
      latency_ms: 2_500,
      receipt_delay_ms: { min: 200, max: 600 },
      outcomes: { delivered: 0.75, undelivered: 0.25 },
    });
    const ws = (await engine.workspace()).workspaceId;
    const specs: Spec[] = [];
    for (let i = 0; i < 400; i++)
      specs.push({
        to: numberUnder(i % 2 ? MID : FAST),
        topic: 'sms.outbound',
        // Every fifth message is two segments: its receipts are tied one part at a time.
        ...(i % 5 === 0
          ? { body: `Parcel ${i}: ${'your delivery window is 9:00 to 11:00 today. '.repeat(5)}` }
          : {}),
      });
    const envs = await send(engine, ws, specs);
    const ids = envs.map((e) => e.id);
    const journalFrom = sim.journal(0, 0).total;
    const before = sim.stats().accepted;

    const first = dispatcherProcess();
    await eventually(async () => sim.stats().accepted - before >= 80, 30_000, 10);
    first.child.kill('SIGKILL');
    await first.exited;
    const lost = sim.stats().accepted - before;
    // The whole messages the carrier took before the kill (a two-part message cut between its parts
    // is not in the journal): none of their answers was stored, so each must be tied by its receipts.
    const takenBeforeKill = new Set(
      sim
        .journal(journalFrom, 100_000)
        .messages.map((m) => m.parleyMessageId)
        .filter((id): id is string => !!id && ids.includes(id)),
    );
    // None of their answers reached a live dispatcher: not one message is `submitted` yet.
    expect(await countIn(ids, ['submitted', 'sent'])).toBe(0);

    sim.applyScenario({ latency_ms: 0 });
    const second = dispatcherProcess();
    try {
      await eventually(async () => (await countIn(ids, ['accepted', 'queued'])) === 0, 90_000, 250);
      // What the carrier took, by our message id, from its journal.
      const journal = new Map<string, MessageStatus>();
      const taken = sim.journal(journalFrom, 100_000).messages;
      for (const m of taken)
        if (m.parleyMessageId && ids.includes(m.parleyMessageId))
          journal.set(m.parleyMessageId, aggregateParts((m.outcomes ?? []) as MessageStatus[]));
      // Every message the carrier took ends with its outcome: receipts named by a stored id, or
      // tied to a message whose answer was lost (parked receipts are retried after 1, 2, 4, 8 s).
      const settled = async () => {
        const r = await sql<{ id: string; status: string }>`
          select id, status from messages where id = any(${ids}::uuid[])`.execute(db);
        return r.rows.filter((x) => journal.has(x.id) && x.status !== journal.get(x.id)).length === 0;
      };
      await eventually(settled, 60_000, 500).catch(() => undefined);
      const reconciled = await engine.app.get(SubmitReconciler).reconcile(0, { workspaceId: ws });
      const rows = await sql<{ id: string; status: string; error_code: string | null; segments: number }>`
        select id, status, error_code, segments from messages where id = any(${ids}::uuid[])`.execute(db);
      const tiedRows = await sql<{ id: string }>`
        select id from messages
         where id = any(${ids}::uuid[]) and outcome->>'matched_by' = 'connector_recipient_time'`.execute(db);
      const tiedIds = new Set(tiedRows.rows.map((r) => r.id));
      // Not in the journal (which lists whole messages): never taken, or only the first part of a
      // two-part message was; that part's failed receipt fails the message (any_failure).
      const wrong = rows.rows.filter((r) =>
        journal.has(r.id)
          ? r.status !== journal.get(r.id)
          : r.status !== 'unknown' && !(r.segments > 1 && r.status === 'undelivered'),
      );
      const final = await finalStatuses(ids);
      console.log(
        `answers-lost test: ${lost} taken by the carrier before SIGKILL, ${journal.size} in its journal, ` +
          `${takenBeforeKill.size} of them whole messages, ${tiedIds.size} tied by connector+recipient+time, ` +
          `${reconciled} ended unknown; final ${JSON.stringify(final)}`,
      );
      expect(
        wrong.slice(0, 5).map((r) => ({ ...r, carrier: journal.get(r.id) ?? 'not taken' })),
        `${wrong.length} messages whose status is not the carrier's`,
      ).toEqual([]);
      expect(rows.rows).toHaveLength(400);
      expect(final.some((r) => r.status === 'failed')).toBe(false);
      // The killed window's messages were tied by their receipts, not by stored ids.
      expect(takenBeforeKill.size).toBeGreaterThan(0);
      expect([...takenBeforeKill].filter((id) => !tiedIds.has(id))).toEqual([]);
      expect(sim.stats().duplicates).toBe(0);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 180_000);
});
