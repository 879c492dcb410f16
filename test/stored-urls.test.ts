// URLs are checked when they are stored, with the one callback URL rule (infra/http/callback-url.ts):
// a workspace's reply_webhook_url, a campaign's status_callback and reply_handlers[].webhook, and a
// message's status_callback. A bad URL is a 400 naming the field and the reason, and nothing is
// stored; a good one is taken as before. The send-time check stays (receipts.test.ts).
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiResponse, engineForFile } from './support/engine';

const file = engineForFile();

/** Each bad URL with (part of) the reason the API must give. NODE_ENV is test, not production. */
const BAD: { name: string; url: string; reason: RegExp }[] = (
  [
    ['file:///etc/passwd', /must use https/],
    ['gopher://hooks.example.com:70/_x', /must use https/],
    ['javascript:alert(1)', /must use https/],
    ['https://user:pass@hooks.example.com/cb', /credentials/],
    ['http://169.254.169.254/latest/meta-data/', /must use https/],
    ['https://169.254.169.254/latest/meta-data/', /private, link-local or metadata/],
    ['https://10.0.0.8/cb', /private, link-local or metadata/],
    ['http://hooks.example.com/cb', /must use https/],
    [`https://hooks.example.com/${'a'.repeat(2048)}`, /at most 2048 characters/],
  ] as [string, RegExp][]
).map(([url, reason]) => ({
  name: url.length > 60 ? `${url.slice(0, 40)}… (${url.length} characters)` : url,
  url,
  reason,
}));

function expectRefused(r: ApiResponse, field: string, reason: RegExp) {
  expect(r.status).toBe(400);
  expect(r.body.error.code).toBe('validation_failed');
  expect(r.body.error.message).toMatch(new RegExp(`^${field.replace(/\./g, '\\.')}: `));
  const issue = r.body.error.details.issues.find((i: { path: string }) => i.path === field);
  expect(issue?.message).toMatch(reason);
}

describe('PATCH /v1/workspace/settings reply_webhook_url', () => {
  it.each(BAD)('refuses $name and keeps the stored URL', async ({ url, reason }) => {
    const ok = await file.api.request('PATCH', '/v1/workspace/settings', {
      reply_webhook_url: 'https://logistics.example/replies',
    });
    expect(ok.status).toBe(200);
    const r = await file.api.request('PATCH', '/v1/workspace/settings', { reply_webhook_url: url });
    expectRefused(r, 'reply_webhook_url', reason);
    expect((await file.api.get('/v1/workspace/settings')).body.reply_webhook_url).toBe(
      'https://logistics.example/replies',
    );
  });

  it('takes https, and http to loopback outside production', async () => {
    for (const url of ['https://logistics.example/replies?k=1', 'http://127.0.0.1:9999/replies']) {
      const r = await file.api.request('PATCH', '/v1/workspace/settings', { reply_webhook_url: url });
      expect(r.status).toBe(200);
      expect(r.body.reply_webhook_url).toBe(url);
    }
  });
});

describe('POST /v1/campaigns status_callback and reply_handlers[].webhook', () => {
  let audienceId: string;
  beforeAll(async () => {
    const a = await file.api.post('/v1/audiences', { name: `stored-urls-${Date.now()}` });
    expect(a.status).toBe(201);
    audienceId = a.body.id;
  });

  const campaign = (extra: Record<string, unknown>) => ({
    name: 'urls',
    audience_id: audienceId,
    from: 'default',
    body: 'Hello',
    type: 'transactional',
    ...extra,
  });

  it.each(BAD)('refuses status_callback $name', async ({ url, reason }) => {
    const r = await file.api.post('/v1/campaigns', campaign({ status_callback: url }));
    expectRefused(r, 'status_callback', reason);
  });

  it.each(BAD)('refuses a reply handler webhook $name, naming the handler', async ({ url, reason }) => {
    const r = await file.api.post(
      '/v1/campaigns',
      campaign({
        reply_handlers: [
          { intent: 'confirm', webhook: 'https://hooks.example.com/ok' },
          { keyword: 'MENU', webhook: url },
        ],
      }),
    );
    expectRefused(r, 'reply_handlers.1.webhook', reason);
  });

  it('stores a campaign whose URLs follow the rule', async () => {
    const r = await file.api.post(
      '/v1/campaigns',
      campaign({
        status_callback: 'https://hooks.example.com/status',
        reply_handlers: [{ intent: 'confirm', webhook: 'http://localhost:9999/replies' }],
      }),
    );
    expect(r.status).toBe(201);
  });
});

describe('POST /v1/messages status_callback', () => {
  it.each(BAD)('refuses $name', async ({ url, reason }) => {
    const r = await file.api.post('/v1/messages', { to: '+14155550128', body: 'hi', status_callback: url });
    expectRefused(r, 'status_callback', reason);
  });

  it('refuses a bad status_callback per item in a batch', async () => {
    const r = await file.api.post('/v1/messages/batch', {
      messages: [
        { to: '+14155550128', body: 'hi', status_callback: 'file:///etc/passwd' },
        { to: '+14155550129', body: 'hi', status_callback: 'https://hooks.example.com/status' },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.results[0].status).toBe('invalid');
    expect(JSON.stringify(r.body.results[0].error)).toMatch(/status_callback/);
    expect(r.body.results[1].status).toBe('accepted');
  });
});
