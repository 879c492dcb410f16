// The foundation against the real stack: migrations, Kafka plumbing, auth, health, metrics, docs,
// configuration errors and graceful shutdown of a real engine process.
import { Client } from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/infra/db/db';
import { migrateDownAll, migrateToLatest } from '../src/infra/db/migrator';
import { KafkaService } from '../src/infra/kafka/kafka.service';
import { ConsumerHost } from '../src/infra/kafka/consumer-host';
import { ApiClient, TestEngine, eventually, startEngine } from './support/engine';
import { spawnEngineProcess } from './support/engine-process';
import { TEST_DATABASE_URL } from './support/env';

describe('migrations', () => {
  it('round-trips: every migration applies, reverts and applies again', async () => {
    const admin = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    await admin.query('drop database if exists parley_migrations_rt');
    await admin.query('create database parley_migrations_rt');
    const db = createDb('postgres://postgres@127.0.0.1:5432/parley_migrations_rt', 2);
    try {
      const up = await migrateToLatest(db);
      expect(up.results!.length).toBeGreaterThan(0);
      const tables = await sql<{
        table_name: string;
      }>`select table_name from information_schema.tables where table_schema='public'`.execute(db);
      expect(tables.rows.map((r) => r.table_name)).toContain('workspaces');
      const down = await migrateDownAll(db);
      expect(down.results!.every((r) => r.direction === 'Down' && r.status === 'Success')).toBe(true);
      const left = await sql<{
        n: number;
      }>`select count(*)::int as n from information_schema.tables where table_schema='public' and table_name not like 'kysely_%'`.execute(
        db,
      );
      expect(left.rows[0].n).toBe(0);
      const again = await migrateToLatest(db);
      expect(again.results!.length).toBe(up.results!.length);
    } finally {
      await db.destroy();
      await admin.query('drop database if exists parley_migrations_rt');
      await admin.end();
    }
  });

  it('puts workspace_id on every domain table', async () => {
    const db = createDb(TEST_DATABASE_URL, 2);
    try {
      const r = await sql<{ table_name: string }>`
        select t.table_name from information_schema.tables t
        where t.table_schema = 'public' and t.table_type = 'BASE TABLE'
          and t.table_name not like 'kysely_%' and t.table_name <> 'workspaces'
          -- Which dispatcher owns which partition (its lease epoch): no tenant data (a partition
          -- holds messages of every workspace).
          and t.table_name <> 'partition_leases'
          and not exists (select 1 from information_schema.columns c
                          where c.table_schema = 'public' and c.table_name = t.table_name and c.column_name = 'workspace_id')`.execute(
        db,
      );
      expect(r.rows.map((x) => x.table_name)).toEqual([]);
    } finally {
      await db.destroy();
    }
  });
});

describe('database connections', () => {
  it('survive the server ending a client held inside a transaction (no crash; the pool moves on)', async () => {
    const db = createDb(TEST_DATABASE_URL, 2);
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const inTx = db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await admin.query('select pg_terminate_backend($1)', [rows[0].pid]);
        // The server's FATAL arrives while the client is checked out and idle: it emits 'error' on
        // the client itself, which would end the process without a listener of its own.
        await new Promise((r) => setTimeout(r, 300));
        await sql`select 1`.execute(trx);
      });
      await expect(inTx).rejects.toThrow();
      const after = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(after.rows[0].one).toBe(1);
    } finally {
      await admin.end();
      await db.destroy();
    }
  });
});

describe('engine', () => {
  let engine: TestEngine;
  let api: ApiClient;

  beforeAll(async () => {
    engine = await startEngine();
    api = await engine.workspace('acme-foundation');
  });
  afterAll(async () => engine?.close());

  it('answers liveness, readiness with every dependency, and metrics', async () => {
    const anon = new ApiClient(engine.url, undefined);
    expect((await anon.get('/health/live')).status).toBe(200);
    const ready = await eventually(async () => {
      const r = await anon.get('/health/ready');
      return r.status === 200 ? r : undefined;
    });
    expect(ready.body.checks).toEqual({
      postgres: { up: true },
      redis: { up: true },
      kafka: { up: true },
      consumers: { up: true },
    });
    const m = await anon.get('/metrics');
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toContain('text/plain');
    expect(m.text).toMatch(/^parley_build_info\{version="[^"]+",commit="[^"]+",node_version="v\d+/m);
    expect(m.text).toContain('process_cpu_user_seconds_total');
  });

  it('refuses /v1 without a key or with a wrong one, in the error shape', async () => {
    const none = await api.withKey(undefined).get('/v1/workspace');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    const wrong = await api.withKey('prl_not-a-real-key').get('/v1/workspace');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    const basic = await api.withKey(undefined).get('/v1/workspace', { authorization: 'Basic Zm9vOmJhcg==' });
    expect(basic.status).toBe(401);
  });

  it("returns the key's own workspace and no other (tenants are walled)", async () => {
    const other = await engine.workspace('globex-foundation');
    const a = await api.get('/v1/workspace');
    const b = await other.get('/v1/workspace');
    expect(a.body).toEqual({ id: api.workspaceId, name: 'acme-foundation' });
    expect(b.body).toEqual({ id: other.workspaceId, name: 'globex-foundation' });
    expect(a.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const r = await api.get('/v1/no-such-thing');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });

  it('serves the OpenAPI document and UI generated from the code', async () => {
    const anon = new ApiClient(engine.url, undefined);
    const json = await anon.get('/docs-json');
    expect(json.status).toBe(200);
    expect(json.body.openapi).toMatch(/^3\./);
    expect(Object.keys(json.body.paths)).toEqual(expect.arrayContaining(['/v1/workspace', '/health/ready']));
    const ui = await anon.get('/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger');
  });

  it('produces through the wrapper and consumes through the host, keyed and in order', async () => {
    const kafka = engine.app.get(KafkaService);
    const host = engine.app.get(ConsumerHost);
    await kafka.topicsReady;
    const seen: { key: string; value: string; partition: number }[] = [];
    await host.start({
      groupId: 'foundation-test',
      topics: ['sms.inbound'],
      async handle(batch) {
        for (const m of batch.messages) {
          seen.push({ key: m.key!.toString(), value: m.value!.toString(), partition: batch.partition });
          batch.resolveOffset(m.offset);
        }
      },
    });
    const records = Array.from({ length: 50 }, (_, i) => ({
      key: `+1415555${String(i % 5).padStart(4, '0')}`,
      value: String(i),
    }));
    await Promise.all([
      kafka.produce('sms.inbound', records.slice(0, 25)),
      kafka.produce('sms.inbound', records.slice(25)),
    ]);
    await eventually(async () => seen.length >= 50, 30_000);
    expect(seen).toHaveLength(50);
    for (const key of new Set(records.map((r) => r.key))) {
      const mine = seen.filter((s) => s.key === key);
      expect(new Set(mine.map((m) => m.partition)).size).toBe(1);
      expect(mine.map((m) => Number(m.value))).toEqual(
        [...mine.map((m) => Number(m.value))].sort((x, y) => x - y),
      );
    }
    // Each process reports the lag of the partitions it owns; everything is consumed, so it is 0.
    const prefix = engine.env.KAFKA_TOPIC_PREFIX;
    const lagLine = `parley_kafka_consumer_lag{topic="${prefix}sms.inbound",group="${prefix}foundation-test"} 0`;
    await eventually(
      async () => (await new ApiClient(engine.url, undefined).get('/metrics')).text.includes(lagLine),
      20_000,
      500,
    );
  });

  it('hands a handler that commits itself each record once, and commits only what it commits', async () => {
    const kafka = engine.app.get(KafkaService);
    const host = engine.app.get(ConsumerHost);
    await kafka.topicsReady;
    // Nobody else consumes the DLQ topic in this engine.
    const topic = engine.env.KAFKA_TOPIC_PREFIX + 'sms.outbound.dlq';
    const groupId = 'foundation-own-commits';
    const seen: string[] = [];
    const consumer = await host.start({
      groupId,
      topics: ['sms.outbound.dlq'],
      ownCommits: true,
      // Keeps every record open past its batch, as the dispatcher's lanes do.
      async handle(batch) {
        for (const m of batch.messages) seen.push(m.offset);
      },
    });
    const key = '+14155550199';
    await kafka.produce(
      'sms.outbound.dlq',
      Array.from({ length: 30 }, (_, i) => ({ key, value: String(i) })),
    );
    await eventually(async () => seen.length >= 30, 30_000);
    // Fetches go on every 100 ms; none may hand the open records over again.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(seen).toHaveLength(30);
    expect(new Set(seen).size).toBe(30);
    const admin = await kafka.getAdmin();
    const committed = async () =>
      (
        await admin.fetchOffsets({ groupId: engine.env.KAFKA_TOPIC_PREFIX + groupId, topics: [topic] })
      )[0].partitions
        .filter((p) => Number(p.offset) >= 0)
        .map((p) => Number(p.offset));
    expect(await committed()).toEqual([]);
    const { partition } = (await admin.fetchTopicOffsets(topic)).find((p) => Number(p.high) > 0)!;
    await consumer.commitOffsets([{ topic, partition, offset: String(Number(seen[9]) + 1) }]);
    expect(await committed()).toEqual([Number(seen[9]) + 1]);
  });
});

describe('readiness with a dependency down', () => {
  it('is 503 naming Redis when Redis does not answer', async () => {
    const engine = await startEngine({ REDIS_URL: 'redis://127.0.0.1:6' });
    try {
      const r = await new ApiClient(engine.url, undefined).get('/health/ready');
      expect(r.status).toBe(503);
      expect(r.body.down).toEqual(['redis']);
      expect(r.body.checks.postgres.up).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it('is 503 naming Kafka and Postgres when they do not answer', async () => {
    const engine = await startEngine({
      KAFKA_BROKERS: '127.0.0.1:7',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:8/parley_test',
    });
    try {
      const r = await new ApiClient(engine.url, undefined).get('/health/ready');
      expect(r.status).toBe(503);
      expect(r.body.down.sort()).toEqual(['kafka', 'postgres']);
    } finally {
      await engine.close();
    }
  });
});

describe('engine process', () => {
  it('refuses to start on a bad variable, naming it', async () => {
    const p = spawnEngineProcess({ PORT: 'eighty' });
    expect(await p.exited).toBe(78);
    expect(p.output()).toMatch(/configuration error: PORT:/);
    const q = spawnEngineProcess({ PARLEY_ROLES: 'api,mailer' });
    expect(await q.exited).toBe(78);
    expect(q.output()).toMatch(/PARLEY_ROLES/);
  });

  it('starts the named roles at the asked priority and shuts down cleanly on SIGTERM', async () => {
    const p = spawnEngineProcess({
      PARLEY_ROLES: 'api,dispatcher',
      KAFKA_TOPIC_PREFIX: `proc${Date.now()}.`,
      PARLEY_NICE: '5',
    });
    await eventually(async () => /parley engine started/.test(p.output()), 30_000);
    const line = p
      .output()
      .split('\n')
      .find((l) => l.includes('parley engine started'))!;
    const started = JSON.parse(line);
    expect(started.roles).toEqual(['api', 'dispatcher']);
    expect(started.nice).toBe(5);
    const health = await fetch(`${started.url}/health/live`);
    expect(health.status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.output()).toMatch(/shutting down/);
  });
});
