// The reply router against the real stack and the carrier simulator: customer replies travel as
// SMPP deliver_sm from the simulator through the connector, sms.inbound and the router. STOP is
// committed and answered once and silences the number; START re-subscribes; HELP answers with the
// workspace's help text; YES is a confirmation for an opted-in number and an opt-in for an opted-out
// one; order questions reach the logistics webhook and the inbox with the order attached; inbox
// replies leave from the same sender; the conversation shows the whole thread.
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, eventually } from './support/engine';
import { SimulatedEngine, startSimulatedEngine } from './support/simulated';

let stack: SimulatedEngine;
let api: ApiClient;
let hook: Server;
let hookUrl: string;
const received: { body: any; headers: IncomingMessage['headers'] }[] = [];
let n = 0;
// Exchange codes (the 3 digits after the area code) start with 2–9 in North America.
const run = String(Math.floor(Math.random() * 8000) + 2000);
/** A fresh valid US number per call (Chicago area code, unique per run). */
const customer = () => `+1312${run.slice(0, 3)}${String(++n).padStart(4, '0')}`;

async function sendAndDeliver(to: string, body: string, metadata?: Record<string, unknown>) {
  const r = await api.post('/v1/messages', { to, body, ...(metadata ? { metadata } : {}) });
  expect(r.status).toBe(202);
  await eventually(
    async () => (await api.get(`/v1/messages/${r.body.id}`)).body.status === 'delivered',
    30_000,
  );
  return r.body as { id: string; from: string };
}

/** The customer answers: a deliver_sm MO from the simulator to our sender. */
function reply(from: string, to: string, text: string) {
  stack.sim.sendMo('parley', { from, to, text });
}

const textsTo = (to: string) => stack.sim.messages(to).map((m) => m.text);

beforeAll(async () => {
  stack = await startSimulatedEngine({ scenario: { outcomes: { delivered: 1 }, receipt_delay_ms: 20 } });
  api = await stack.engine.workspace();
  hook = createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      received.push({ body: JSON.parse(data), headers: req.headers });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/replies`;
  const s = await api.request('PATCH', '/v1/workspace/settings', {
    brand: 'Acme Parcel',
    support_contact: 'help@acme.example',
    reply_webhook_url: hookUrl,
  });
  expect(s.status).toBe(200);
});

afterAll(async () => {
  await stack?.close();
  hook?.close();
});

describe('reply router', () => {
  it('commits STOP, answers exactly once, and suppresses later messages; a second STOP gets nothing', async () => {
    const to = customer();
    const sent = await sendAndDeliver(to, 'Acme Parcel: your order A-1001 ships today.');
    reply(to, sent.from, 'Stop');
    await eventually(
      async () => (await api.get(`/v1/opt-outs?number=${encodeURIComponent(to)}`)).body.data?.length > 0,
      20_000,
    );
    await eventually(async () => textsTo(to).some((t) => /unsubscribed/i.test(t)), 20_000);
    expect(textsTo(to).filter((t) => /unsubscribed/i.test(t))).toHaveLength(1);

    const later = await api.post('/v1/messages', { to, body: 'Acme Parcel: one more thing' });
    await eventually(
      async () => (await api.get(`/v1/messages/${later.body.id}`)).body.status === 'suppressed',
      20_000,
    );

    reply(to, sent.from, 'STOP');
    // Give the router time to (not) answer the repeated STOP.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(textsTo(to).filter((t) => /unsubscribed/i.test(t))).toHaveLength(1);
    expect(textsTo(to)).not.toContain('Acme Parcel: one more thing');
  });

  it('honours a STOP from a contact who was never texted from that sender', async () => {
    const to = customer();
    const aud = await api.post('/v1/audiences', { name: `never-texted-${to}` });
    const imp = await api.request('POST', `/v1/audiences/${aud.body.id}/imports`, `phone\n${to}\n`, {
      'content-type': 'text/csv',
    });
    await eventually(
      async () => (await api.get(`/v1/imports/${imp.body.id}`)).body.status === 'completed',
      20_000,
    );
    reply(to, '+14155550100', 'STOP');
    await eventually(
      async () => (await api.get(`/v1/opt-outs?number=${encodeURIComponent(to)}`)).body.data?.length > 0,
      20_000,
    );
    const later = await api.post('/v1/messages', { to, body: 'Acme Parcel: hello' });
    await eventually(
      async () => (await api.get(`/v1/messages/${later.body.id}`)).body.status === 'suppressed',
      20_000,
    );
  });

  it('re-subscribes on START with a confirmation, and YES from an opted-out number is an opt-in', async () => {
    const a = customer();
    const sentA = await sendAndDeliver(a, 'Acme Parcel: delivery window 2-4pm.');
    reply(a, sentA.from, 'STOP');
    await eventually(async () => textsTo(a).some((t) => /unsubscribed/i.test(t)), 20_000);
    reply(a, sentA.from, 'START');
    await eventually(async () => textsTo(a).some((t) => /subscribed again/i.test(t)), 20_000);
    const ok = await api.post('/v1/messages', { to: a, body: 'Acme Parcel: welcome back' });
    await eventually(
      async () => (await api.get(`/v1/messages/${ok.body.id}`)).body.status === 'delivered',
      20_000,
    );

    const b = customer();
    const sentB = await sendAndDeliver(b, 'Acme Parcel: your parcel is out for delivery.');
    reply(b, sentB.from, 'unsubscribe');
    await eventually(async () => textsTo(b).some((t) => /unsubscribed/i.test(t)), 20_000);
    reply(b, sentB.from, 'Yes');
    await eventually(async () => textsTo(b).some((t) => /subscribed again/i.test(t)), 20_000);
    const conv = await api.get(`/v1/conversations/${encodeURIComponent(b)}`);
    expect(conv.body.data.filter((m: any) => m.direction === 'inbound').map((m: any) => m.intent)).toEqual([
      'opt_out',
      'opt_in',
    ]);
  });

  it('answers HELP with the brand, rates and support contact', async () => {
    const to = customer();
    const sent = await sendAndDeliver(to, 'Acme Parcel: your code is 1234');
    reply(to, sent.from, 'help');
    await eventually(async () => textsTo(to).some((t) => t.includes('Msg & data rates may apply')), 20_000);
    const help = textsTo(to).find((t) => t.includes('Msg & data rates may apply'))!;
    expect(help).toContain('Acme Parcel');
    expect(help).toContain('help@acme.example');
  });

  it('sends order questions to the logistics webhook and the inbox with the order attached', async () => {
    const to = customer();
    const sent = await sendAndDeliver(to, 'Acme Parcel: order A-2002 arrives Friday.', {
      order_id: 'A-2002',
      eta: 'Friday 2-4pm',
    });
    reply(to, sent.from, 'when will my order arrive?');
    const hit = await eventually(async () => received.find((r) => r.body.reply?.from === to), 30_000);
    expect(hit.body.reply.intent).toBe('order_question');
    expect(hit.body.order).toEqual({ order_id: 'A-2002', eta: 'Friday 2-4pm' });
    expect(hit.body.matched.message_id).toBe(sent.id);
    expect(String(hit.headers['parley-signature'])).toMatch(/^t=\d+,v1=[0-9a-f]{64}/);

    const item = await eventually(
      async () => (await api.get('/v1/inbox?status=open')).body.data.find((i: any) => i.customer === to),
      20_000,
    );
    expect(item.intent).toBe('order_question');
    expect(item.context.order).toEqual({ order_id: 'A-2002', eta: 'Friday 2-4pm' });

    // A person answers from the inbox: it leaves from the sender the customer wrote to.
    const answer = await api.post(`/v1/inbox/${item.id}/reply`, {
      body: 'It is on the truck, arriving by 4pm.',
    });
    expect(answer.status).toBe(202);
    expect(answer.body.message.from).toBe(sent.from);
    await eventually(async () => textsTo(to).includes('It is on the truck, arriving by 4pm.'), 20_000);
    const closed = await api.post(`/v1/inbox/${item.id}/close`);
    expect(closed.body.status).toBe('closed');

    const conv = await api.get(`/v1/conversations/${encodeURIComponent(to)}`);
    expect(conv.body.data.map((m: any) => m.direction)).toEqual(['outbound', 'inbound', 'outbound']);
    expect(conv.body.data[1]).toMatchObject({
      intent: 'order_question',
      body: 'when will my order arrive?',
    });
  });

  it('keeps other workspaces out of the inbox and threads', async () => {
    const other = await stack.engine.workspace();
    expect((await other.get('/v1/inbox')).body.data).toEqual([]);
    const conv = await other.get(`/v1/conversations/${encodeURIComponent(customer())}`);
    expect(conv.body.data).toEqual([]);
  });

  it('classifies through the API exactly as the router does', async () => {
    const r = await api.post('/v1/replies/classify', { text: 'this deal is unstoppable' });
    expect(r.status).toBe(200);
    expect(r.body.intent).not.toBe('opt_out');
    const s = await api.post('/v1/replies/classify', { text: 'ARRÊT' });
    expect(s.body).toMatchObject({ intent: 'opt_out', language: 'fr' });
    const bad = await api.post('/v1/replies/classify', { txt: 'x' });
    expect(bad.status).toBe(400);
  });
});
