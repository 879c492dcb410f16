// Carriers, senders and the message preview against a real engine (Postgres, Redis, Kafka): the
// listings, routing by longest prefix, sticky senders remembered in Redis, workspace-restricted
// senders, the preview's encoding and route, its 400s, and a carriers file that stops the engine.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigService } from '../src/config/config.service';
import { ApiError } from '../src/infra/http/api-error';
import { AppLogger } from '../src/infra/logging/app-logger';
import { REDIS } from '../src/infra/redis/redis.module';
import { CarrierDirectory, stickyKey } from '../src/modules/carriers/carrier-directory.service';
import { stableChoice } from '../src/modules/carriers/carrier-routes';
import { ApiClient, TestEngine, startEngine } from './support/engine';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-carriers-'));
// The brand allowed the restricted senders; a fresh name each run so runs never share Redis keys.
const ACME = `carriers-acme-${randomBytes(4).toString('hex')}`;

// A realistic setup: a US pool of three long codes, a short code only one brand may use, a UK pool
// of two, carriers by prefix with a catch-all.
const CARRIERS_YAML = `
connectors:
  - id: smpp
    kind: smpp
    port: 2775
carriers:
  - { id: us-alpha, name: US Alpha Wireless, prefixes: ["+1"], segments_per_second: 400 }
  - { id: us-beta, name: US Beta Mobile, prefixes: ["+1212", "+1415", "+1917"], segments_per_second: 200, daily_cap: 500000 }
  - { id: uk-gamma, name: UK Gamma, prefixes: ["+44", "+447"], segments_per_second: 150 }
  - { id: intl, prefixes: ["+"], segments_per_second: 50 }
senders:
  - { address: "+14155550100", kind: long_code, segments_per_second: 1, connector: smpp, pool: us-retail }
  - { address: "+14155550101", kind: long_code, segments_per_second: 1, connector: smpp, pool: us-retail }
  - { address: "+14155550102", kind: long_code, segments_per_second: 1, connector: smpp, pool: us-retail }
  - { address: "+447700900100", kind: long_code, segments_per_second: 10, connector: smpp, pool: uk }
  - { address: "+447700900101", kind: long_code, segments_per_second: 10, connector: smpp, pool: uk, workspaces: [${ACME}] }
  - { address: "88088", kind: short_code, segments_per_second: 100, connector: smpp, workspaces: [${ACME}], smart_encoding: true }
  - { address: "+18885550199", kind: toll_free, segments_per_second: 3, connector: smpp }
default_from: us-retail
`;

describe('carriers, senders and preview', () => {
  let engine: TestEngine;
  let acme: ApiClient;
  let globex: ApiClient;
  let directory: CarrierDirectory;

  beforeAll(async () => {
    const file = path.join(dir, 'carriers.yaml');
    writeFileSync(file, CARRIERS_YAML);
    engine = await startEngine({ PARLEY_CARRIERS_FILE: file, PARLEY_ROLES: 'api' });
    acme = await engine.workspace(ACME);
    globex = await engine.workspace();
    directory = engine.app.get(CarrierDirectory);
  });
  afterAll(async () => engine?.close());

  describe('GET /v1/carriers', () => {
    it('lists carriers with prefixes and caps', async () => {
      const r = await acme.get('/v1/carriers');
      expect(r.status).toBe(200);
      expect(r.body.data).toEqual([
        {
          id: 'us-alpha',
          name: 'US Alpha Wireless',
          prefixes: ['+1'],
          segments_per_second: 400,
          daily_cap: null,
        },
        {
          id: 'us-beta',
          name: 'US Beta Mobile',
          prefixes: ['+1212', '+1415', '+1917'],
          segments_per_second: 200,
          daily_cap: 500000,
        },
        {
          id: 'uk-gamma',
          name: 'UK Gamma',
          prefixes: ['+44', '+447'],
          segments_per_second: 150,
          daily_cap: null,
        },
        { id: 'intl', name: 'intl', prefixes: ['+'], segments_per_second: 50, daily_cap: null },
      ]);
    });

    it('needs an API key', async () => {
      const r = await acme.withKey(undefined).get('/v1/carriers');
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('unauthorized');
      expect((await acme.withKey('prl_nope').get('/v1/senders')).status).toBe(401);
    });
  });

  describe('GET /v1/senders', () => {
    it('lists every sender to the workspace they are restricted to', async () => {
      const r = await acme.get('/v1/senders');
      expect(r.status).toBe(200);
      expect(r.body.default_from).toBe('us-retail');
      expect(r.body.data.map((s: { address: string }) => s.address)).toEqual([
        '+14155550100',
        '+14155550101',
        '+14155550102',
        '+447700900100',
        '+447700900101',
        '88088',
        '+18885550199',
      ]);
      expect(r.body.data[5]).toEqual({
        address: '88088',
        kind: 'short_code',
        segments_per_second: 100,
        connector: 'smpp',
        pool: null,
        smart_encoding: true,
      });
      expect(r.body.data[0]).toMatchObject({ kind: 'long_code', pool: 'us-retail', segments_per_second: 1 });
    });

    it('hides restricted senders from other workspaces', async () => {
      const r = await globex.get('/v1/senders');
      expect(r.body.data.map((s: { address: string }) => s.address)).toEqual([
        '+14155550100',
        '+14155550101',
        '+14155550102',
        '+447700900100',
        '+18885550199',
      ]);
    });
  });

  describe('POST /v1/messages/preview', () => {
    it('counts a GSM-7 body and routes the number by longest prefix', async () => {
      const r = await acme.post('/v1/messages/preview', {
        body: 'Your order 48213 arrives today between 2pm and 4pm. Reply STOP to opt out.',
        to: '+1 (415) 555-2671',
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        encoding: 'GSM-7',
        segments: 1,
        characters: 74,
        units: 74,
        non_gsm_characters: [],
        to: { e164: '+14155552671', country: 'US', carrier: 'us-beta', line_type: 'fixed_line_or_mobile' },
      });
      expect(r.body.smart_replacements).toBeUndefined();
    });

    it.each([
      ['+1 202 456 1111', undefined, '+12024561111', 'US', 'us-alpha'],
      ['07400 123456', 'GB', '+447400123456', 'GB', 'uk-gamma'],
      ['+33 6 12 34 56 78', undefined, '+33612345678', 'FR', 'intl'],
      ['tel:+81-90-1234-5678', undefined, '+819012345678', 'JP', 'intl'],
    ])('routes %s (%s) to %s on %s', async (to, country, e164, iso, carrier) => {
      const r = await acme.post('/v1/messages/preview', { body: 'hi', to, country });
      expect(r.status).toBe(200);
      expect(r.body.to).toMatchObject({ e164, country: iso, carrier });
    });

    it('counts UCS-2 with the characters that force it', async () => {
      const body = `¿Dónde está mi pedido? 📦 ${'Gracias por su paciencia. '.repeat(2)}`;
      const r = await acme.post('/v1/messages/preview', { body });
      expect(r.body).toMatchObject({
        encoding: 'UCS-2',
        segments: 2,
        units: body.length,
        non_gsm_characters: ['ó', 'á', '📦'],
      });
      expect(r.body.parts.join('')).toBe(body);
      expect(r.body.to).toBeUndefined();
    });

    it('reports smart encoding replacements and the text that would be sent', async () => {
      const body = `We’re on our way — ETA 10 min… “Door 4”${' '.repeat(40)}`;
      const plain = await acme.post('/v1/messages/preview', { body });
      expect(plain.body).toMatchObject({ encoding: 'UCS-2', segments: 2 });
      const smart = await acme.post('/v1/messages/preview', { body, smart_encoding: true });
      expect(smart.body).toMatchObject({
        encoding: 'GSM-7',
        segments: 1,
        non_gsm_characters: [],
        text: `We're on our way - ETA 10 min... "Door 4"${' '.repeat(40)}`,
        smart_replacements: [
          { from: '’', to: "'", count: 1 },
          { from: '—', to: '-', count: 1 },
          { from: '…', to: '...', count: 1 },
          { from: '“', to: '"', count: 1 },
          { from: '”', to: '"', count: 1 },
        ],
      });
    });

    it("applies the sender's smart encoding unless the request says otherwise", async () => {
      const body = 'Don’t forget: pickup at 5 — Door “B”';
      const viaShortCode = await acme.post('/v1/messages/preview', { body, from: '88088' });
      expect(viaShortCode.body).toMatchObject({
        encoding: 'GSM-7',
        text: 'Don\'t forget: pickup at 5 - Door "B"',
        from: { address: '88088', pool: null, smart_encoding: true },
      });
      const overridden = await acme.post('/v1/messages/preview', {
        body,
        from: '88088',
        smart_encoding: false,
      });
      expect(overridden.body.encoding).toBe('UCS-2');
      const viaPool = await acme.post('/v1/messages/preview', { body, from: 'us-retail' });
      expect(viaPool.body).toMatchObject({
        encoding: 'UCS-2',
        from: { address: null, pool: 'us-retail', smart_encoding: false },
      });
    });

    it('refuses a sender the workspace may not use with a 400 naming `from`', async () => {
      for (const [client, from] of [
        [globex, '88088'],
        [acme, 'eu-pool'],
      ] as const) {
        const r = await client.post('/v1/messages/preview', { body: 'hi', from });
        expect(r.status).toBe(400);
        expect(r.body.error.details.issues[0].path).toBe('from');
      }
    });

    it('refuses a bad number with a 400 naming `to` and the reason', async () => {
      for (const [to, reason] of [
        ['+1 202', 'TOO_SHORT'],
        ['202 456 1111', 'INVALID_COUNTRY'],
        ['not a number', 'INVALID_NUMBER'],
        ['', 'MISSING_PHONE'],
      ]) {
        const r = await acme.post('/v1/messages/preview', { body: 'hi', to });
        expect(r.status, to).toBe(400);
        expect(r.body.error.code).toBe('validation_failed');
        expect(r.body.error.message).toMatch(new RegExp(`^to: ${reason}: `));
        expect(r.body.error.details.issues[0].path).toBe('to');
      }
    });

    it('refuses an empty or missing body with a 400 naming `body`', async () => {
      for (const payload of [{ body: '' }, {}, { body: 42 }]) {
        const r = await acme.post('/v1/messages/preview', payload);
        expect(r.status).toBe(400);
        expect(r.body.error.details.issues[0].path).toBe('body');
        expect(r.body.error.message).toMatch(/^body: /);
      }
    });

    it('needs an API key', async () => {
      expect((await acme.withKey(undefined).post('/v1/messages/preview', { body: 'hi' })).status).toBe(401);
    });

    it('is in the OpenAPI document with the listings', async () => {
      const doc = await acme.withKey(undefined).get('/docs-json');
      expect(Object.keys(doc.body.paths)).toEqual(
        expect.arrayContaining(['/v1/messages/preview', '/v1/senders', '/v1/carriers']),
      );
      const schema =
        doc.body.paths['/v1/messages/preview'].post.requestBody.content['application/json'].schema;
      expect(schema.required).toEqual(['body']);
    });
  });

  describe('resolveSender', () => {
    const ws = () => ({ id: acme.workspaceId, name: acme.workspaceName });

    it('takes a sender by address when the workspace may use it', async () => {
      expect((await directory.resolveSender(ws(), '88088', '+14155552671')).kind).toBe('short_code');
      expect((await directory.resolveSender(ws(), '+18885550199', '+14155552671')).kind).toBe('toll_free');
    });

    it('keeps a recipient on the same sender of a pool, remembered in Redis', async () => {
      const recipients = Array.from({ length: 60 }, (_, i) => `+1202555${String(1000 + i)}`);
      const first = await Promise.all(recipients.map((to) => directory.resolveSender(ws(), 'us-retail', to)));
      expect(new Set(first.map((s) => s.address)).size).toBe(3);
      const again = await Promise.all(recipients.map((to) => directory.resolveSender(ws(), undefined, to)));
      expect(again.map((s) => s.address)).toEqual(first.map((s) => s.address));
      const redis = engine.app.get<IORedis>(REDIS);
      const stored = await redis.hgetall(stickyKey(acme.workspaceId, 'us-retail'));
      recipients.forEach((to, i) => expect(stored[to]).toBe(first[i].address));
    });

    it('resolves a campaign batch in one go, agreeing with one-by-one resolution', async () => {
      const recipients = Array.from({ length: 500 }, (_, i) => `+1917555${String(1000 + i)}`);
      const batch = await directory.resolveSenders(ws(), 'us-retail', recipients);
      expect(batch.size).toBe(500);
      for (const to of recipients.slice(0, 50)) {
        expect((await directory.resolveSender(ws(), 'us-retail', to)).address).toBe(batch.get(to)!.address);
      }
      // A fresh directory (another process) reads the same choices back from Redis.
      const other = new CarrierDirectory(
        engine.app.get(ConfigService),
        engine.app.get<IORedis>(REDIS),
        engine.app.get(AppLogger),
      );
      const again = await other.resolveSenders(ws(), 'us-retail', recipients);
      expect(recipients.every((to) => again.get(to)!.address === batch.get(to)!.address)).toBe(true);
      const counts = new Map<string, number>();
      for (const s of batch.values()) counts.set(s.address, (counts.get(s.address) ?? 0) + 1);
      expect(counts.size).toBe(3);
    });

    it('follows what Redis remembers over the hashed choice (another process chose first)', async () => {
      const to = '+12125550147';
      const hashed = stableChoice(
        directory.senders().filter((s) => s.pool === 'us-retail'),
        to,
      ).address;
      const other = ['+14155550100', '+14155550101', '+14155550102'].find((a) => a !== hashed)!;
      const redis = engine.app.get<IORedis>(REDIS);
      await redis.hset(stickyKey(globex.workspaceId, 'us-retail'), to, other);
      const s = await directory.resolveSender(
        { id: globex.workspaceId, name: globex.workspaceName },
        'us-retail',
        to,
      );
      expect(s.address).toBe(other);
    });

    it('keeps pools of different workspaces apart', async () => {
      const to = '+14155559876';
      await directory.resolveSender(ws(), 'us-retail', to);
      const redis = engine.app.get<IORedis>(REDIS);
      expect(await redis.hget(stickyKey(acme.workspaceId, 'us-retail'), to)).toBeTruthy();
      expect(await redis.hget(stickyKey(globex.workspaceId, 'us-retail'), to)).toBeNull();
    });

    it('uses only the pool members the workspace may use', async () => {
      const g = { id: globex.workspaceId, name: globex.workspaceName };
      for (let i = 0; i < 20; i++) {
        expect((await directory.resolveSender(g, 'uk', `+44740012${String(3400 + i)}`)).address).toBe(
          '+447700900100',
        );
      }
    });

    it('refuses unknown and forbidden senders with a 400 naming `from`', async () => {
      const g = { id: globex.workspaceId, name: globex.workspaceName };
      for (const [who, from, message] of [
        [ws(), 'nyc', '"nyc" is neither a sender address nor a sender pool'],
        [ws(), '+15555550000', '"+15555550000" is neither a sender address nor a sender pool'],
        [g, '88088', 'sender 88088 is not available to this workspace'],
      ] as const) {
        const err = await directory.resolveSender(who, from, '+14155552671').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApiError);
        const res = (err as ApiError).getResponse() as { error: { message: string; details: unknown } };
        expect((err as ApiError).getStatus()).toBe(400);
        expect(res.error.details).toEqual({ issues: [{ path: 'from', message }] });
      }
    });

    it('falls back to the hashed choice quickly when Redis does not answer', async () => {
      const dead = new IORedis({ host: '127.0.0.1', port: 6, lazyConnect: true, maxRetriesPerRequest: 1 });
      dead.on('error', () => undefined);
      const d = new CarrierDirectory(engine.app.get(ConfigService), dead, engine.app.get(AppLogger));
      const to = '+12025550123';
      const t0 = Date.now();
      const s = await d.resolveSender(ws(), 'us-retail', to);
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(s.address).toBe(
        stableChoice(
          d.senders().filter((x) => x.pool === 'us-retail'),
          to,
        ).address,
      );
      dead.disconnect();
    });
  });

  describe('a bad carriers file', () => {
    it('stops the engine with a message naming the file, the field and the reason', async () => {
      const bad = path.join(dir, 'bad.yaml');
      writeFileSync(bad, CARRIERS_YAML.replace('prefixes: ["+44", "+447"]', 'prefixes: ["44"]'));
      await expect(startEngine({ PARLEY_CARRIERS_FILE: bad, PARLEY_ROLES: 'api' })).rejects.toThrow(
        `PARLEY_CARRIERS_FILE ${bad}: carriers.2.prefixes.0: must be "+" followed by up to 14 digits`,
      );
      const clash = path.join(dir, 'clash.yaml');
      writeFileSync(clash, CARRIERS_YAML.replace('"+1917"]', '"+1917", "+44"]'));
      await expect(startEngine({ PARLEY_CARRIERS_FILE: clash, PARLEY_ROLES: 'api' })).rejects.toThrow(
        /PARLEY_CARRIERS_FILE .*clash\.yaml: prefix \+44 belongs to both carrier "us-beta" and "uk-gamma"/,
      );
    });
  });
});
