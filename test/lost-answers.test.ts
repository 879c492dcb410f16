// Receipts for messages whose submit answer was lost (receipts/orphan-match.ts), against the real
// database: the receipts role's applier given parked receipts whose carrier ids were never stored.
// One lost message to a handset takes its receipt (with how it was matched); two to one handset
// take none and the receipt is kept as `ambiguous`; a message still inside the grace is left alone;
// an `unknown` message (its window closed) still takes a later receipt's outcome.
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { SubmitReconciler } from '../src/modules/dispatch/submit-reconciler.service';
import { MessageRepository } from '../src/modules/messages/message.repository';
import type { ReceiptEnvelope } from '../src/modules/messages/message.types';
import { ReceiptApplier } from '../src/modules/receipts/receipt-applier.service';
import { TestEngine, startEngine } from './support/engine';

const SENDER = '+14155550100';
let engine: TestEngine;
let db: Db;
let ws: string;
let parked = 1_000_000;

beforeAll(async () => {
  // Both roles: the applier (receipts) and the reconciler (dispatcher); no connector is bound, the
  // receipts are handed to the applier as the parked-receipt retry would.
  engine = await startEngine({
    PARLEY_ROLES: 'receipts,dispatcher',
    PARLEY_RECEIPT_ORPHAN_AFTER_SECONDS: '30',
  });
  db = engine.app.get<Db>(DB);
  ws = (await engine.workspace()).workspaceId;
});

afterAll(async () => {
  await engine?.close();
});

const handset = () => `+1312${String(1_000_000 + Math.floor(Math.random() * 8_999_999)).slice(0, 7)}`;

/** A message fenced `agoSeconds` ago on connector `smpp` whose answer never came back. */
async function lost(to: string, agoSeconds: number, segments = 1): Promise<string> {
  const id = randomUUID();
  await engine.app.get(MessageRepository).insertAccepted([
    {
      id,
      workspaceId: ws,
      type: 'transactional',
      to,
      sender: SENDER,
      body: 'Your parcel is on its way',
      encoding: 'GSM-7',
      segments,
    },
  ]);
  await sql`update messages set status = 'submitting', connector_id = 'smpp', carrier_id = 'alpha',
    submitting_at = now() - ${agoSeconds}::int * interval '1 second' where id = ${id}`.execute(db);
  return id;
}

function receipt(to: string, stat: 'DELIVRD' | 'UNDELIV' = 'DELIVRD'): ReceiptEnvelope {
  const cid = randomBytes(5).toString('hex');
  return {
    connectorId: 'smpp',
    carrierMessageId: cid,
    recipient: to.slice(1),
    sender: SENDER.slice(1),
    raw: `id:${cid} sub:001 dlvrd:001 submit date:2612071200 done date:2612071200 stat:${stat} err:${stat === 'DELIVRD' ? '000' : '001'} text:Your parcel`,
    receivedAt: Date.now(),
  };
}

const apply = (envs: ReceiptEnvelope[]) =>
  engine.app.get(ReceiptApplier).apply(envs.map((envelope) => ({ envelope, parkedId: parked++ })));

async function row(id: string) {
  const r = await sql<{
    status: string;
    error_code: string | null;
    outcome: Record<string, any> | null;
    parts: number;
  }>`
    select status, error_code, outcome, (select count(*) from message_parts p where p.message_id = m.id)::int as parts
      from messages m where id = ${id}`.execute(db);
  return r.rows[0];
}

describe('receipts for messages whose submit answer was lost', () => {
  it('ties a receipt to the one lost message to its handset, and says how', async () => {
    const to = handset();
    const id = await lost(to, 120);
    const out = await apply([receipt(to)]);
    expect(out.matchedParked).toHaveLength(1);
    const r = await row(id);
    expect(r.status).toBe('delivered');
    expect(r.parts).toBe(1);
    expect(r.outcome?.matched_by).toBe('connector_recipient_time');
  });

  it('guesses nothing when two lost messages to one handset fit: both stay open, the receipt is kept as ambiguous', async () => {
    const to = handset();
    const a = await lost(to, 120);
    const b = await lost(to, 90);
    const env = receipt(to);
    const out = await apply([env]);
    expect(out.applied).toBe(0);
    expect((await row(a)).status).toBe('submitting');
    expect((await row(b)).status).toBe('submitting');
    const kept = await sql<{ reason: string; raw: string }>`
      select reason, raw from unapplied_receipts where carrier_message_id = ${env.carrierMessageId}`.execute(
      db,
    );
    expect(kept.rows).toHaveLength(1);
    expect(kept.rows[0].reason).toBe('ambiguous');
    expect(kept.rows[0].raw).toContain(a);
    expect(kept.rows[0].raw).toContain(b);
  });

  it('leaves a message alone while its dispatcher may still store the answer (inside the grace)', async () => {
    const to = handset();
    const id = await lost(to, 5);
    const out = await apply([receipt(to)]);
    expect(out.applied).toBe(0);
    expect(out.matchedParked).toHaveLength(0);
    expect((await row(id)).status).toBe('submitting');
  });

  it('ends an untied message unknown (never failed), and a later receipt still tells its real outcome', async () => {
    const to = handset();
    const id = await lost(to, 900);
    await engine.app.get(SubmitReconciler).reconcile(600_000, { workspaceId: ws });
    const before = await row(id);
    expect(before.status).toBe('unknown');
    expect(before.error_code).toBe('submit_outcome_unknown');
    const api = await fetch(`${engine.url}/metrics`).then((r) => r.text());
    expect(api).toMatch(/parley_messages_final_total\{[^}]*status="unknown"/);

    await apply([receipt(to, 'UNDELIV')]);
    const after = await row(id);
    expect(after.status).toBe('undelivered');
    expect(after.error_code).toBe('001');
    expect(after.outcome?.matched_by).toBe('connector_recipient_time');
    expect(after.outcome?.was_unknown?.outcome?.error_code).toBe('submit_outcome_unknown');
    const metrics = await fetch(`${engine.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/parley_unknown_outcomes_resolved_total\{status="undelivered"\} 1/);
  });

  it('ties both parts of a two-part message one receipt at a time, final only with the last', async () => {
    const to = handset();
    const id = await lost(to, 120, 2);
    await apply([receipt(to)]);
    const half = await row(id);
    expect(half.parts).toBe(1);
    expect(half.status).toBe('submitting');
    await apply([receipt(to)]);
    const whole = await row(id);
    expect(whole.parts).toBe(2);
    expect(whole.status).toBe('delivered');
  });
});
