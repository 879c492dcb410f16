// Audiences, imports, the consent ledger, opt-outs and segments against the real stack: a real
// engine (API + scheduler roles), Postgres, Redis (BullMQ) and Kafka.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptOutLedger } from '../src/modules/consent/opt-out-ledger.service';
import { SegmentRepository } from '../src/modules/audiences/segment.repository';
import { BATCH_LOCK_TIMEOUT_MS, ImportRepository } from '../src/modules/audiences/import.repository';
import { StagingBatch } from '../src/modules/audiences/import-staging';
import { ImportService } from '../src/modules/audiences/import.service';
import { malformedRow, prepareRow } from '../src/modules/audiences/import-row';
import { WorkspaceRepository } from '../src/modules/workspaces/workspace.repository';
import { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';

let engine: TestEngine;

beforeAll(async () => {
  engine = await startEngine();
});
afterAll(async () => engine?.close());

async function newAudience(api: ApiClient, name = 'customers'): Promise<string> {
  const r = await api.post('/v1/audiences', { name });
  expect(r.status).toBe(201);
  return r.body.id;
}

async function upload(
  api: ApiClient,
  audienceId: string,
  body: string | Buffer,
  type = 'text/csv',
  query = '',
) {
  const res = await fetch(`${api.baseUrl}/v1/audiences/${audienceId}/imports${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.key}`, 'content-type': type },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function finished(api: ApiClient, importId: string) {
  return eventually(async () => {
    const r = await api.get(`/v1/imports/${importId}`);
    return r.body.status === 'completed' || r.body.status === 'failed' ? r.body : undefined;
  }, 30_000);
}

async function importCsv(
  api: ApiClient,
  audienceId: string,
  csv: string | Buffer,
  query = '?default_country=US',
) {
  const r = await upload(api, audienceId, csv, 'text/csv', query);
  expect(r.status).toBe(202);
  // The job may already be working on the rows staged so far when the upload is answered.
  expect(['queued', 'running', 'completed']).toContain(r.body.status);
  return finished(api, r.body.id);
}

const CSV = [
  'phone,country,first_name,last_name,email,timezone,opted_in_at,consent_source,tier,age',
  '(415) 555-2671,,Ann,Lee,ann@example.com,America/Los_Angeles,2025-03-01T10:00:00Z,web form,gold,41', // 2
  '+44 7400 123456,,Bob,,,,,,silver,29', // 3
  '07400 123457,GB,Cat,,,,,,gold,35', // 4
  '011 44 7400 123458,,Dan,,,,,,bronze,', // 5: US international prefix
  '00 33 6 12 34 56 78,FR,Eve,,,,,,gold,52', // 6: French international prefix
  'tel:+1-415-555-2672,,Fay,,,,,,,', // 7
  '+١٤١٥٥٥٥٢٦٧٣,,Gus,,,,,,gold,19', // 8: Arabic-Indic digits
  '415.555.2671,,Ann again,,,,,,platinum,', // 9: duplicate of row 2
  '123,,Too,,,,,,,', // 10
  ',,Nobody,,,,,,,', // 11
  '+999 1234 5678,,Nowhere,,,,,,,', // 12
  '4155552674,ZZ,Bad country,,,,,,,', // 13
  '+14155552675,,Extra,,,,,,,,,', // 14: too many columns
  '+14155552676,,Zed,,,Mars/Base,,,,', // 15
].join('\n');

describe('imports', () => {
  it('normalizes, dedupes, refuses with reasons, and reports counts and an errors CSV', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const done = await importCsv(api, aud, CSV);
    expect(done).toMatchObject({
      status: 'completed',
      total: 14,
      imported: 7,
      updated: 0,
      duplicates: 1,
      invalid: 6,
    });
    expect(done.started_at).toBeTruthy();
    expect(done.finished_at).toBeTruthy();

    const errors = await api.get(`/v1/imports/${done.id}/errors`);
    expect(errors.status).toBe(200);
    expect(errors.headers.get('content-type')).toContain('text/csv');
    const lines = errors.text.trim().split('\n');
    expect(lines[0]).toBe('row,phone,reason');
    const reasons = Object.fromEntries(lines.slice(1).map((l) => [l.split(',')[0], l.split(',').at(-1)]));
    expect(reasons).toEqual({
      '10': 'TOO_SHORT',
      '11': 'MISSING_PHONE',
      '12': 'INVALID_COUNTRY',
      '13': 'INVALID_COUNTRY',
      '14': 'MALFORMED_ROW',
      '15': 'INVALID_TIMEZONE',
    });

    for (const e164 of [
      '+14155552671',
      '+447400123456',
      '+447400123457',
      '+447400123458',
      '+33612345678',
      '+14155552672',
      '+14155552673',
    ]) {
      const c = await api.get(`/v1/contacts/${encodeURIComponent(e164)}`);
      expect(c.status, e164).toBe(200);
    }
    const ann = await api.get('/v1/contacts/+14155552671');
    expect(ann.body.contact).toMatchObject({
      country: 'US',
      first_name: 'Ann',
      last_name: 'Lee',
      email: 'ann@example.com',
      timezone: 'America/Los_Angeles',
      attributes: { tier: 'gold', age: '41' },
      audiences: [aud],
    });
    expect(ann.body.contact.line_type).toBeTruthy();
    // The consent columns became an opt-in event in the ledger.
    expect(ann.body.consent).toMatchObject({
      status: 'opted_in',
      source: 'web form',
      since: '2025-03-01T10:00:00.000Z',
    });
    expect(ann.body.events).toHaveLength(1);
    expect(ann.body.events[0]).toMatchObject({ kind: 'opt_in', scope: 'workspace', source: 'web form' });
    expect(ann.body.events[0].evidence).toContain(`row 2`);

    const a = await api.get(`/v1/audiences/${aud}`);
    expect(a.body).toMatchObject({ id: aud, name: 'customers', contacts: 7, opted_in: 1, opted_out: 0 });
  });

  it('re-importing counts rows as updated, never duplicates a contact or a consent event', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    await importCsv(api, aud, CSV);
    const again = await importCsv(api, aud, CSV.replace('silver,29', 'gold,30'));
    expect(again).toMatchObject({
      status: 'completed',
      total: 14,
      imported: 0,
      updated: 7,
      duplicates: 1,
      invalid: 6,
    });
    const bob = await api.get('/v1/contacts/+447400123456');
    expect(bob.body.contact.attributes).toEqual({ tier: 'gold', age: '30' });
    const ann = await api.get('/v1/contacts/+14155552671');
    expect(ann.body.events).toHaveLength(1);
    expect((await api.get(`/v1/audiences/${aud}`)).body.contacts).toBe(7);
    // The same numbers into a second audience: memberships, not new contacts.
    const other = await newAudience(api, 'second');
    const third = await importCsv(api, other, CSV);
    expect(third).toMatchObject({ imported: 0, updated: 7 });
    expect((await api.get('/v1/contacts/+14155552671')).body.contact.audiences.sort()).toEqual(
      [aud, other].sort(),
    );
  });

  it('counts a number repeated far apart in a large file (other staging and move batches) once', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const number = (i: number) => `+1415${String(3_000_000 + i)}`;
    const lines = ['phone,opted_in_at,consent_source'];
    for (let i = 0; i < 52_000; i++) lines.push(`${number(i)},,`);
    // Later occurrences of the first numbers, one carrying consent the first did not: duplicates,
    // and the first occurrence (no consent) wins.
    for (let i = 0; i < 3_000; i++) lines.push(`${number(i)},2025-01-01T00:00:00Z,late form`);
    lines.push('not a number,,');
    const done = await importCsv(api, aud, lines.join('\n'));
    expect(done).toMatchObject({
      status: 'completed',
      total: 55_001,
      imported: 52_000,
      updated: 0,
      duplicates: 3_000,
      invalid: 1,
    });
    expect((await api.get(`/v1/audiences/${aud}`)).body).toMatchObject({ contacts: 52_000, opted_in: 0 });
    expect((await api.get(`/v1/contacts/${encodeURIComponent(number(0))}`)).body.events).toEqual([]);
    const errors = await api.get(`/v1/imports/${done.id}/errors`);
    expect(errors.text).toBe('row,phone,reason\n55002,not a number,INVALID_NUMBER\n');
  });

  it('imports NDJSON with attributes of any JSON type', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const body = [
      JSON.stringify({
        phone: '+14155550101',
        first_name: 'Nd',
        plan: 'pro',
        seats: 12,
        flags: { beta: true },
      }),
      '{not json',
      JSON.stringify({ phone: '(415) 555-0102' }),
      JSON.stringify(['array']),
      '',
    ].join('\n');
    const r = await upload(api, aud, body, 'application/x-ndjson', '?default_country=US');
    expect(r.status).toBe(202);
    const done = await finished(api, r.body.id);
    expect(done).toMatchObject({ total: 4, imported: 2, invalid: 2 });
    const c = await api.get('/v1/contacts/+14155550101');
    expect(c.body.contact.attributes).toEqual({ plan: 'pro', seats: 12, flags: { beta: true } });
    const errors = await api.get(`/v1/imports/${done.id}/errors`);
    expect(errors.text).toBe('row,phone,reason\n2,,MALFORMED_ROW\n4,,MALFORMED_ROW\n');
  });

  it('keeps the valid rows of a bad file: unbalanced quote, invalid UTF-8, a 10 MB line', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const body = Buffer.concat([
      Buffer.from('phone,name\n+14155550201,ok one\n+14155550202,"unclosed\n+14155550203,ok three\n'),
      Buffer.from('+14155550204,'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('\n'),
      Buffer.from('+14155550205,' + 'x'.repeat(10 * 1024 * 1024) + '\n'),
      Buffer.from('+14155550206,"quoted, fine"\n'),
    ]);
    const done = await importCsv(api, aud, body);
    expect(done).toMatchObject({ status: 'completed', total: 6, imported: 3, invalid: 3 });
    const errors = (await api.get(`/v1/imports/${done.id}/errors`)).text;
    expect(errors).toBe('row,phone,reason\n3,,MALFORMED_ROW\n5,,MALFORMED_ROW\n6,,MALFORMED_ROW\n');
    for (const n of ['+14155550201', '+14155550203', '+14155550206']) {
      expect((await api.get(`/v1/contacts/${n}`)).status).toBe(200);
    }
  });

  it('answers clear errors for an empty file, no phone column, an unknown audience, a wrong type', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const empty = await upload(api, aud, '');
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/empty/);
    const headerOnly = await upload(api, aud, 'phone\n');
    expect(headerOnly.status).toBe(400);
    expect(headerOnly.body.error.message).toMatch(/no rows/);
    const noPhone = await upload(api, aud, 'name,email\nann,a@b.c\n');
    expect(noPhone.status).toBe(400);
    expect(noPhone.body.error).toMatchObject({ code: 'invalid_file', details: { field: 'header' } });
    expect(noPhone.body.error.message).toMatch(/no "phone" column/);
    const unknown = await upload(api, '00000000-0000-4000-8000-000000000000', 'phone\n+14155550101\n');
    expect(unknown.status).toBe(404);
    const json = await api.post(`/v1/audiences/${aud}/imports`, { phone: '1' });
    expect(json.status).toBe(415);
    const badCountry = await upload(api, aud, 'phone\n1\n', 'text/csv', '?default_country=USA');
    expect(badCountry.status).toBe(400);
    expect(badCountry.body.error.message).toMatch(/default_country/);
    expect((await api.get('/v1/imports/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

/** Stages one CSV row per phone (rows 2, 3, …) for an import, as the upload would. */
async function stagePhones(
  repo: ImportRepository,
  id: string,
  workspaceId: string,
  at: Date,
  phones: string[],
) {
  const batch = new StagingBatch(id, workspaceId);
  phones.forEach((phone, i) =>
    batch.add(prepareRow({ ...malformedRow(i + 2, ''), malformed: null, phone }, 'US', at)),
  );
  await repo.stage(batch.take());
}

describe('import recovery', () => {
  it('resumes from its checkpoint after a failure and a retry, counting every row once', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const svc = engine.app.get(ImportService);
    const repo = engine.app.get(ImportRepository);
    const { id, created_at } = await repo.create(api.workspaceId, aud, 'csv', 'US');
    await stagePhones(
      repo,
      id,
      api.workspaceId,
      created_at,
      Array.from({ length: 25_000 }, (_, i) => `(415) ${String(2_000_000 + i).replace(/^(\d{3})/, '$1-')}`),
    );
    await repo.markReceived(id, 25_000);
    // The first batch commits, then the worker is lost for good.
    const imp = (await repo.find(undefined, id))!;
    const upTo = await repo.batchEnd(id, 0, 10_000);
    await (svc as any).moveBatch(imp, 0, upTo);
    await repo.markFailed(id, 'worker lost');
    expect((await api.get(`/v1/imports/${id}`)).body).toMatchObject({
      status: 'failed',
      imported: 10_000,
      error: 'worker lost',
    });

    const retried = await api.post(`/v1/imports/${id}/retry`);
    expect(retried.status).toBe(202);
    const done = await finished(api, id);
    expect(done).toMatchObject({
      status: 'completed',
      total: 25_000,
      imported: 25_000,
      updated: 0,
      duplicates: 0,
      invalid: 0,
    });
    expect((await api.get(`/v1/audiences/${aud}`)).body.contacts).toBe(25_000);
    expect((await api.post(`/v1/imports/${id}/retry`)).status).toBe(409);
  });

  it('a batch moved beside an earlier one commits after it, and rolls back when the earlier one fails', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const svc = engine.app.get(ImportService);
    const repo = engine.app.get(ImportRepository);
    const { id, created_at } = await repo.create(api.workspaceId, aud, 'csv', 'US');
    await stagePhones(
      repo,
      id,
      api.workspaceId,
      created_at,
      Array.from({ length: 20 }, (_, i) => `(415) 555-${3100 + i}`),
    );
    await repo.markReceived(id, 20);
    const imp = (await repo.find(undefined, id))!;
    const move = (after: number, upTo: number, earlier?: Promise<void>) =>
      (svc as any).moveBatch(imp, after, upTo, earlier) as Promise<void>;

    // The earlier batch failed: this one's rows and counts roll back, the checkpoint stays.
    const failed = Promise.reject(new Error('earlier batch failed'));
    failed.catch(() => undefined); // as the job does: awaited by the later batch
    await expect(move(11, 21, failed)).rejects.toThrow('earlier batch failed');
    expect(await repo.find(undefined, id)).toMatchObject({ checkpoint: 0, imported: 0 });
    expect((await api.get(`/v1/audiences/${aud}`)).body.contacts).toBe(0);

    // Both succeed: the later one waits for the earlier one, whichever finishes its statements first.
    let releaseEarlier!: () => void;
    const earlierGate = new Promise<void>((r) => (releaseEarlier = r));
    const earlier = earlierGate.then(() => move(1, 11));
    const later = move(11, 21, earlier);
    await new Promise((r) => setTimeout(r, 200));
    expect(await repo.find(undefined, id)).toMatchObject({ checkpoint: 0, imported: 0 });
    releaseEarlier();
    await later;
    expect(await repo.find(undefined, id)).toMatchObject({ checkpoint: 21, imported: 20 });
  });

  it('gives up a lock cycle through another import of the same numbers, which the database cannot see', async () => {
    // Import A moves x then y in two batches; the later one (y) waits for the earlier one in the
    // job. Import B moves y and x in one batch. B waits for A's later batch (y), A's earlier batch
    // for B (x), and A's later batch for A's earlier one: no database deadlock check sees it.
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const svc = engine.app.get(ImportService);
    const repo = engine.app.get(ImportRepository);
    const staged = async (phones: string[]) => {
      const { id, created_at } = await repo.create(api.workspaceId, aud, 'csv', 'US');
      await stagePhones(repo, id, api.workspaceId, created_at, phones);
      await repo.markReceived(id, phones.length);
      return (await repo.find(undefined, id))!;
    };
    const x = '+14155550001';
    const y = '+14155550002';
    const a = await staged([x, y]);
    const b = await staged([y, x]);
    const move = (imp: unknown, after: number, upTo: number, earlier?: Promise<void>) =>
      (svc as any).moveBatch(imp, after, upTo, earlier) as Promise<void>;

    let releaseA0!: () => void;
    const a0 = new Promise<void>((r) => (releaseA0 = r)).then(() => move(a, 1, 2));
    a0.catch(() => undefined);
    const a1 = move(a, 2, 3, a0); // y, then waits for a0 in the job
    a1.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const b0 = move(b, 1, 3); // x, then y: waits for a1
    b0.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    releaseA0(); // x: waits for b0
    const started = Date.now();
    const [ra0, ra1, rb0] = await Promise.allSettled([a0, a1, b0]);
    // One side gives up after the lock timeout (B waited first), the other goes through.
    expect(Date.now() - started).toBeLessThan(BATCH_LOCK_TIMEOUT_MS + 10_000);
    expect(rb0).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/lock timeout/) },
    });
    expect([ra0.status, ra1.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(await repo.find(undefined, a.id)).toMatchObject({ checkpoint: 3, imported: 2 });
    expect(await repo.find(undefined, b.id)).toMatchObject({ checkpoint: 0, imported: 0 });
  }, 60_000);
});

describe('consent ledger and opt-outs', () => {
  it('records opt-outs by scope, suppresses at once, and a later opt-in clears them', async () => {
    const api = await engine.workspace();
    const ledger = engine.app.get(OptOutLedger);
    const aud = await newAudience(api);
    await importCsv(
      api,
      aud,
      'phone,consent_source\n+14155550301,kiosk\n+14155550302,kiosk\n+14155550303,\n',
    );

    const out = await api.post('/v1/opt-outs', {
      number: '(415) 555-0301',
      country: 'US',
      source: 'call_centre',
    });
    expect(out.status).toBe(201);
    expect(out.body).toMatchObject({
      number: '+14155550301',
      kind: 'opt_out',
      scope: 'workspace',
      source: 'call_centre',
    });
    const senderOnly = await api.post('/v1/opt-outs', {
      number: '+14155550302',
      scope: 'sender',
      sender: '12345',
    });
    expect(senderOnly.status).toBe(201);
    const missingSender = await api.post('/v1/opt-outs', { number: '+14155550302', scope: 'sender' });
    expect(missingSender.status).toBe(400);
    expect(missingSender.body.error.message).toMatch(/^sender/);
    const badNumber = await api.post('/v1/opt-outs', { number: '12' });
    expect(badNumber.status).toBe(400);
    expect(badNumber.body.error.details).toMatchObject({ field: 'number' });

    const all = ['+14155550301', '+14155550302', '+14155550303'];
    expect([...(await ledger.suppressedAmong(api.workspaceId, all))]).toEqual(['+14155550301']);
    expect([...(await ledger.suppressedAmong(api.workspaceId, all, '12345'))].sort()).toEqual([
      '+14155550301',
      '+14155550302',
    ]);
    expect([...(await ledger.suppressedAmong(api.workspaceId, all, '99999'))]).toEqual(['+14155550301']);

    const list = await api.get('/v1/opt-outs?number=%2B14155550301');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.state).toMatchObject({ status: 'opted_out', source: 'call_centre' });
    expect((await api.get('/v1/opt-outs')).body.data).toHaveLength(2);

    const contact = await api.get('/v1/contacts/+14155550301');
    expect(contact.body.consent.status).toBe('opted_out');
    expect(contact.body.events.map((e: { kind: string }) => e.kind)).toEqual(['opt_in', 'opt_out']);
    expect((await api.get(`/v1/audiences/${aud}`)).body).toMatchObject({
      contacts: 3,
      opted_in: 1,
      opted_out: 1,
    });

    // An old opt-in arriving late (a re-import) never undoes the newer opt-out.
    await ledger.recordOptIn({
      workspaceId: api.workspaceId,
      e164: '+14155550301',
      source: 'import',
      at: new Date('2020-01-01'),
    });
    expect((await ledger.suppressedAmong(api.workspaceId, ['+14155550301'])).size).toBe(1);
    // START: a new opt-in clears every opt-out of the number.
    await ledger.recordOptIn({ workspaceId: api.workspaceId, e164: '+14155550301', source: 'sms:START' });
    await ledger.recordOptIn({ workspaceId: api.workspaceId, e164: '+14155550302', source: 'sms:START' });
    expect((await ledger.suppressedAmong(api.workspaceId, all, '12345')).size).toBe(0);
    const state = await ledger.state(api.workspaceId, '+14155550302');
    expect(state).toMatchObject({
      status: 'opted_in',
      senders: [{ sender_address: '12345', status: 'opted_in' }],
    });
    // The table the dispatcher reads agrees with the state derived from the events.
    const derived = (await api.get('/v1/contacts/+14155550302')).body.consent;
    expect(derived.status).toBe(state.status);
    expect(derived.senders.map((s: { status: string }) => s.status)).toEqual(
      state.senders.map((s) => s.status),
    );
  });

  it('an imported opt-in clears the sender-scoped opt-outs it outdates, and only those', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    for (const number of ['+14155550311', '+14155550312']) {
      const r = await api.post('/v1/opt-outs', { number, scope: 'sender', sender: '12345' });
      expect(r.status).toBe(201);
    }
    // One opt-in newer than the opt-outs, one older: only the newer one clears its number.
    await new Promise((r) => setTimeout(r, 20));
    const later = new Date().toISOString();
    await importCsv(
      api,
      aud,
      `phone,opted_in_at,consent_source\n+14155550311,${later},web form\n+14155550312,2020-01-01T00:00:00Z,web form\n`,
    );
    const ledger = engine.app.get(OptOutLedger);
    expect([
      ...(await ledger.suppressedAmong(api.workspaceId, ['+14155550311', '+14155550312'], '12345')),
    ]).toEqual(['+14155550312']);
  });

  it('replays an opt-out with the same Idempotency-Key', async () => {
    const api = await engine.workspace();
    const h = { 'idempotency-key': 'form-42' };
    const a = await api.post('/v1/opt-outs', { number: '+14155550401' }, h);
    const b = await api.post('/v1/opt-outs', { number: '+14155550401' }, h);
    expect(b.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expect((await api.post('/v1/opt-outs', { number: '+14155550402' }, h)).status).toBe(409);
  });
});

describe('segments', () => {
  it('counts reachable contacts with filters and names the path of a bad filter', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    await importCsv(api, aud, CSV);
    const count = async (filter: unknown) => {
      const r = await api.post('/v1/segments', { audience_id: aud, filter });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.count as number;
    };
    expect(
      await count({
        and: [
          { attr: 'tier', eq: 'gold' },
          { field: 'country', in: ['US', 'CA'] },
        ],
      }),
    ).toBe(2);
    expect(await count({ attr: 'tier', eq: 'gold' })).toBe(4);
    expect(await count({ attr: 'tier', neq: 'gold' })).toBe(3);
    expect(await count({ attr: 'age', gt: 30 })).toBe(3);
    expect(await count({ attr: 'age', lt: 30 })).toBe(2);
    expect(await count({ attr: 'age', exists: false })).toBe(2);
    expect(
      await count({
        or: [
          { field: 'country', eq: 'FR' },
          { attr: 'tier', in: ['bronze', 'silver'] },
        ],
      }),
    ).toBe(3);
    expect(await count({ not: { field: 'country', eq: 'GB' } })).toBe(4);
    expect(await count({ field: 'email', exists: true })).toBe(1);
    expect(await count({ field: 'created_at', gt: '2000-01-01' })).toBe(7);
    // An injection attempt is just a value that matches nothing.
    expect(await count({ attr: "tier' or '1'='1", eq: "x' or '1'='1" })).toBe(0);

    // Opted-out contacts are never counted as reachable.
    await api.post('/v1/opt-outs', { number: '+14155552671' });
    const seg = await api.post('/v1/segments', {
      audience_id: aud,
      name: 'gold',
      filter: { attr: 'tier', eq: 'gold' },
    });
    expect(seg.body.count).toBe(3);
    expect((await api.get(`/v1/segments/${seg.body.id}`)).body).toMatchObject({
      id: seg.body.id,
      count: 3,
      name: 'gold',
    });

    const bad = await api.post('/v1/segments', {
      audience_id: aud,
      filter: {
        and: [
          { attr: 'tier', eq: 'gold' },
          { field: 'country', in: 'US' },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.path).toBe('filter.and[1].in');
    expect(bad.body.error.message).toMatch(/^filter\.and\[1\]\.in: /);
    const op = await api.post('/v1/segments', {
      audience_id: aud,
      filter: { or: [{ attr: 'tier', like: 'g%' }] },
    });
    expect(op.status).toBe(400);
    expect(op.body.error.details.path).toBe('filter.or[0].like');
    const missing = await api.post('/v1/segments', {
      audience_id: '00000000-0000-4000-8000-000000000000',
      filter: { attr: 'a', exists: true },
    });
    expect(missing.status).toBe(404);
  });

  it('streams a segment in keyset chunks with attributes and consent, without opted-out numbers', async () => {
    const api = await engine.workspace();
    const aud = await newAudience(api);
    const rows = ['phone,consent_source,n'];
    for (let i = 0; i < 250; i++) rows.push(`+1415555${String(1000 + i)},${i % 2 ? 'web' : ''},${i}`);
    await importCsv(api, aud, rows.join('\n'));
    await api.post('/v1/opt-outs', { number: '+14155551000' });
    await api.post('/v1/opt-outs', { number: '+14155551001', scope: 'sender', sender: 'S1' });
    const seg = await api.post('/v1/segments', { audience_id: aud, filter: { attr: 'n', lt: 100 } });
    expect(seg.body.count).toBe(99);
    const repo = engine.app.get(SegmentRepository);
    const seen: string[] = [];
    let chunks = 0;
    for await (const chunk of repo.recipients(
      api.workspaceId,
      { segmentId: seg.body.id },
      { chunkSize: 40, senderAddress: 'S1' },
    )) {
      chunks++;
      seen.push(...chunk.map((r) => r.e164));
      expect(chunk[0]).toHaveProperty('attributes');
    }
    expect(chunks).toBe(3);
    expect(seen).toHaveLength(98);
    expect(seen).not.toContain('+14155551000');
    expect(seen).not.toContain('+14155551001');
    const first = await repo.recipientsPage(api.workspaceId, { audienceId: aud }, { limit: 3 });
    expect(first!.map((r) => [r.e164, r.consent])).toEqual([
      ['+14155551001', 'opted_in'],
      ['+14155551002', null],
      ['+14155551003', 'opted_in'],
    ]);
  });
});

describe('tenant isolation', () => {
  it('never shows or changes another workspace’s audiences, imports, contacts, segments or opt-outs', async () => {
    const a = await engine.workspace();
    const b = await engine.workspace();
    const aud = await newAudience(a);
    const imp = await importCsv(a, aud, 'phone\n+14155550501\n');
    const seg = await a.post('/v1/segments', { audience_id: aud, filter: { attr: 'x', exists: false } });
    await a.post('/v1/opt-outs', { number: '+14155550501' });

    expect((await b.get(`/v1/audiences/${aud}`)).status).toBe(404);
    expect((await upload(b, aud, 'phone\n+14155550502\n')).status).toBe(404);
    expect((await b.get(`/v1/imports/${imp.id}`)).status).toBe(404);
    expect((await b.get(`/v1/imports/${imp.id}/errors`)).status).toBe(404);
    expect((await b.get('/v1/contacts/+14155550501')).status).toBe(404);
    expect((await b.get(`/v1/segments/${seg.body.id}`)).status).toBe(404);
    expect(
      (await b.post('/v1/segments', { audience_id: aud, filter: { attr: 'x', exists: false } })).status,
    ).toBe(404);
    expect((await b.get('/v1/opt-outs?number=%2B14155550501')).body.data).toEqual([]);
    expect((await b.get('/v1/audiences')).body.data).toEqual([]);
    expect((await engine.app.get(OptOutLedger).suppressedAmong(b.workspaceId, ['+14155550501'])).size).toBe(
      0,
    );
    expect((await new ApiClient(engine.url, undefined).get(`/v1/audiences/${aud}`)).status).toBe(401);
  });

  it('deleting a workspace removes its contacts, memberships and consent ledger, and only those', async () => {
    // Contacts and the ledger have no foreign key to workspaces (a check per imported row): the
    // repository deletes them itself.
    const gone = await engine.workspace();
    const kept = await engine.workspace();
    const csv = 'phone,consent_source\n+14155550601,kiosk\n+14155550602,\n';
    for (const api of [gone, kept]) {
      expect(await importCsv(api, await newAudience(api), csv)).toMatchObject({ imported: 2 });
      expect((await api.post('/v1/opt-outs', { number: '+14155550602' })).status).toBe(201);
    }
    const db = engine.app.get<Db>(DB);
    const rowsOf = async (workspaceId: string) => {
      const n = async (table: 'contacts' | 'consent_events' | 'consent_state' | 'audience_members') =>
        Number(
          (
            await db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll().as('n'))
              .where('workspace_id', '=', workspaceId)
              .executeTakeFirstOrThrow()
          ).n,
        );
      return {
        contacts: await n('contacts'),
        members: await n('audience_members'),
        events: await n('consent_events'),
        states: await n('consent_state'),
      };
    };
    const before = { contacts: 2, members: 2, events: 2, states: 2 };
    expect(await rowsOf(gone.workspaceId)).toEqual(before);

    const workspaces = engine.app.get(WorkspaceRepository);
    expect(await workspaces.delete(gone.workspaceId)).toBe(true);
    expect(await rowsOf(gone.workspaceId)).toEqual({ contacts: 0, members: 0, events: 0, states: 0 });
    expect(await workspaces.findById(gone.workspaceId)).toBeUndefined();
    expect(await rowsOf(kept.workspaceId)).toEqual(before);
    expect(await workspaces.delete(gone.workspaceId)).toBe(false);
  });

  it('a workspace deletion waits for an import batch under way, and a later batch finds no workspace', async () => {
    const api = await engine.workspace();
    const workspaces = engine.app.get(WorkspaceRepository);
    const imports = engine.app.get(ImportRepository);
    let deleted: Promise<boolean> | undefined;
    let doneEarly = false;
    await imports.transaction(async (trx) => {
      expect(await imports.holdWorkspace(trx, api.workspaceId)).toBe(true);
      deleted = workspaces.delete(api.workspaceId);
      void deleted.then(() => (doneEarly = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(doneEarly).toBe(false);
    });
    expect(await deleted).toBe(true);
    await imports.transaction(async (trx) => {
      expect(await imports.holdWorkspace(trx, api.workspaceId)).toBe(false);
    });
  });
});
