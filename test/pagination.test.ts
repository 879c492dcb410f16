// One list envelope across /v1: every list answers { data, next_cursor }, takes `limit` and
// `cursor`, and a walk by cursor sees each row once even when rows arrive between its pages.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Db } from '../src/infra/db/db';
import { DB } from '../src/infra/db/db.module';
import { encodeCursor } from '../src/infra/http/pagination';
import { CampaignRepository } from '../src/modules/campaigns/campaign.repository';
import { MessageRepository } from '../src/modules/messages/message.repository';
import { ApiClient, TestEngine, startEngine } from './support/engine';

interface Row {
  id: string;
}
interface ListBody {
  data: Row[];
  next_cursor: string | null;
}

let engine: TestEngine;
let api: ApiClient;
let db: Db;

beforeAll(async () => {
  engine = await startEngine();
  api = await engine.workspace();
  db = engine.app.get<Db>(DB);
});
afterAll(async () => engine?.close());

const LISTS = [
  '/v1/audiences',
  '/v1/campaigns',
  '/v1/inbox',
  '/v1/opt-outs',
  '/v1/conversations/%2B14155550990',
];

async function pageOf(
  client: ApiClient,
  path: string,
  limit: number,
  cursor?: string | null,
): Promise<ListBody> {
  const sep = path.includes('?') ? '&' : '?';
  const q = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
  const r = await client.get<ListBody>(`${path}${sep}${q}`);
  expect(r.status, r.text).toBe(200);
  expect(Object.keys(r.body)).toEqual(expect.arrayContaining(['data', 'next_cursor']));
  expect(r.body.data.length).toBeLessThanOrEqual(limit);
  return r.body;
}

/** Every page from the first to the one whose next_cursor is null; `between` runs after page 1. */
async function walk(
  client: ApiClient,
  path: string,
  limit: number,
  between?: () => Promise<unknown>,
): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const p = await pageOf(client, path, limit, cursor);
    pages.push(p.data.map((r) => r.id));
    cursor = p.next_cursor;
    if (pages.length === 1 && between) await between();
  } while (cursor && pages.length < 50);
  return pages;
}

const flat = (pages: string[][]) => pages.flat();

async function newAudience(name: string): Promise<string> {
  const r = await api.post('/v1/audiences', { name });
  expect(r.status).toBe(201);
  return r.body.id;
}

describe('limit and cursor are checked before any query', () => {
  it.each(LISTS)('%s refuses a bad limit, naming limit', async (path) => {
    for (const limit of ['-1', '0', '1e9', '1001', 'abc', '2.5']) {
      const r = await api.get(`${path}?limit=${limit}`);
      expect(r.status, `limit=${limit}`).toBe(400);
      expect(r.body.error).toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(/^limit: /),
      });
      expect(r.body.error.details.issues[0].path).toBe('limit');
    }
  });

  it.each(LISTS)('%s refuses a malformed cursor, naming cursor', async (path) => {
    const cursors = [
      'not a cursor!',
      Buffer.from('{"a":1').toString('base64url'),
      encodeCursor(['2026-01-01T00:00:00.000Z', randomUUID()]), // milliseconds only
      encodeCursor([0, 9, "x' or '1'='1"]),
      'A'.repeat(2_000),
    ];
    for (const cursor of cursors) {
      const r = await api.get(`${path}?cursor=${encodeURIComponent(cursor)}`);
      expect(r.status, cursor).toBe(400);
      expect(r.body.error).toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(/^cursor: /),
      });
      expect(r.body.error.details.issues[0].path).toBe('cursor');
    }
  });

  it("refuses one list's cursor on another", async () => {
    await newAudience('cursor-a');
    await newAudience('cursor-b');
    const audiences = await pageOf(api, '/v1/audiences', 1);
    expect(audiences.next_cursor).not.toBeNull();
    const r = await api.get(`/v1/opt-outs?cursor=${audiences.next_cursor}`);
    expect(r.status).toBe(400);
    expect(r.body.error.details.issues[0].path).toBe('cursor');
  });

  it('answers the fixed lists whole', async () => {
    for (const path of ['/v1/connectors', '/v1/carriers', '/v1/senders']) {
      const r = await api.get(path);
      expect(r.status).toBe(200);
      expect(r.body.next_cursor).toBeNull();
      expect(r.body.data.length).toBeGreaterThan(0);
    }
  });
});

describe('a walk by cursor sees every row once', () => {
  it('audiences, newest first, with audiences created between pages', async () => {
    const w = await engine.workspace();
    const before = [];
    for (let i = 0; i < 5; i++)
      before.push((await w.post('/v1/audiences', { name: `a${i}` })).body.id as string);
    const pages = await walk(w, '/v1/audiences', 2, async () => {
      for (let i = 0; i < 2; i++)
        expect((await w.post('/v1/audiences', { name: `late${i}` })).status).toBe(201);
    });
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(flat(pages)).toEqual([...before].reverse());
    expect(flat(await walk(w, '/v1/audiences', 3))).toHaveLength(7);
  });

  it('the inbox, newest first, through rows sharing a time and times apart by a microsecond', async () => {
    const w = await engine.workspace();
    const times = [
      '2026-01-01T00:00:00.000100Z',
      '2026-01-01T00:00:00.000100Z',
      '2026-01-01T00:00:00.000100Z',
      '2026-01-01T00:00:00.000200Z',
      '2026-01-01T00:00:00.000300Z',
      '2026-01-01T00:00:00.000300Z',
      '2026-01-01T00:00:00.000400Z',
    ];
    const insert = (at: string) =>
      db
        .insertInto('inbox_items')
        .values({
          workspace_id: w.workspaceId,
          inbound_id: randomUUID(),
          customer: '+14155550991',
          sender: '+14155550100',
          intent: 'question',
          body: 'hello',
          created_at: sql<Date>`${at}::timestamptz`,
        })
        .returning(['id'])
        .executeTakeFirstOrThrow();
    const rows: { id: string; at: string }[] = [];
    for (const at of times) rows.push({ id: (await insert(at)).id, at });
    const expected = rows
      .sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1))
      .map((r) => r.id);
    // Newer than every row read so far: it belongs before page 1, so this walk does not see it.
    const pages = await walk(w, '/v1/inbox', 2, () => insert('2030-01-01T00:00:00.000000Z'));
    expect(flat(pages)).toEqual(expected);
    expect(flat(await walk(w, '/v1/inbox?status=open', 3))).toHaveLength(8);
  });

  it('opt-outs, newest first, with opt-outs recorded between pages', async () => {
    const w = await engine.workspace();
    const before: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await w.post('/v1/opt-outs', { number: `+1415555081${i}` });
      expect(r.status).toBe(201);
      before.push(r.body.id);
    }
    const pages = await walk(w, '/v1/opt-outs', 2, () => w.post('/v1/opt-outs', { number: '+14155550819' }));
    expect(flat(pages)).toEqual([...before].reverse());
  });

  it('campaigns, newest first', async () => {
    const w = await engine.workspace();
    const audienceId = (await w.post('/v1/audiences', { name: 'campaigns' })).body.id as string;
    const repo = engine.app.get(CampaignRepository);
    const create = async (name: string) =>
      (
        await repo.insert({
          workspaceId: w.workspaceId,
          name,
          audienceId,
          segmentId: null,
          from: '+14155550100',
          body: 'hi',
          type: 'transactional',
          scheduleAt: null,
          quietHours: null,
          validitySeconds: null,
          maxSegmentsPerSecond: null,
          weight: 1,
          replyHandlers: [],
          statusCallback: null,
          plan: {},
          recipients: 0,
          excluded: 0,
        })
      ).id;
    const before: string[] = [];
    for (let i = 0; i < 5; i++) before.push(await create(`c${i}`));
    const pages = await walk(w, '/v1/campaigns', 2, () => create('late'));
    expect(flat(pages)).toEqual([...before].reverse());
  });

  it('a conversation, oldest first, with messages sent between pages', async () => {
    const to = '+14155550992';
    const messages = engine.app.get(MessageRepository);
    const send = (n: number, acceptedAt: Date) => {
      const rows = Array.from({ length: n }, () => ({
        id: randomUUID(),
        workspaceId: api.workspaceId,
        type: 'transactional' as const,
        to,
        sender: '+14155550100',
        body: 'hi',
        encoding: 'GSM-7' as const,
        segments: 1,
        acceptedAt,
      }));
      return messages.insertAccepted(rows);
    };
    // Five messages of one instant: their order is their ids'.
    const first = (await send(5, new Date('2026-01-01T00:00:00Z'))).sort();
    let late: string[] = [];
    const pages = await walk(api, `/v1/conversations/${encodeURIComponent(to)}`, 2, async () => {
      late = await send(2, new Date('2026-01-02T00:00:00Z'));
    });
    expect(flat(pages)).toEqual([...first, ...late.sort()]);
  });
});
