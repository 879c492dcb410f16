// `npm run demo`: the whole product on one machine in under three minutes. Brings up the stack,
// starts the carrier simulator and the engine (every role), creates a workspace, imports generated
// opted-in contacts, shows the launch plan, launches a marketing campaign with a progress bar, lets
// the simulator's customers reply (STOP, YES, questions), and prints the final report. `--keep`
// leaves everything running and prints the URLs.
import type { CampaignService } from '../modules/campaigns/campaign.service';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseEnv } from '../config/config.schema';
import { createEngine } from '../engine';
import { SIMULATOR_HTTP_PORT, SIMULATOR_SMPP_PORT } from '../modules/carriers/carriers.config';
import { WorkspaceService } from '../modules/workspaces/workspace.service';
import { TERMINAL_STATUSES as TERMINAL } from '../modules/messages/message.types';
import { CliCommand, UsageError, options } from './command';
import { STACK_SCRIPT } from './stack.command';
import { demoContactsCsv } from './demo-contacts';
import { spawnSimulator } from './simulator-process';

function bar(done: number, total: number, width = 32): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%`;
}

function line(text: string, sameLine = false) {
  if (sameLine && process.stdout.isTTY) process.stdout.write(`\r${text}\x1b[K`);
  else if (!sameLine) process.stdout.write(`${text}\n`);
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** What GET /v1/campaigns/:id answers under `stats`. */
type CampaignStats = Awaited<ReturnType<CampaignService['stats']>>;

export const demoCommand: CliCommand = {
  name: 'demo',
  summary:
    'Run the whole product end to end on this machine (stack, simulator, engine, a campaign and its replies).',
  usage: '[--contacts 20000] [--keep] [--port 3000] [--reply-fraction 0.12]',
  async run(args) {
    const { values } = options(args, {
      contacts: { type: 'string' },
      keep: { type: 'boolean' },
      port: { type: 'string' },
      'reply-fraction': { type: 'string' },
    });
    const contacts = Number(values.contacts ?? 20_000);
    if (!Number.isInteger(contacts) || contacts < 10 || contacts > 1_000_000)
      throw new UsageError('--contacts: a whole number from 10 to 1000000');
    const replyFraction = Number(values['reply-fraction'] ?? 0.12);
    if (!(replyFraction >= 0 && replyFraction <= 1))
      throw new UsageError('--reply-fraction: a number from 0 to 1');
    const t0 = Date.now();
    const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

    line('== Parley demo ==');
    line('1. stack');
    const stack = spawnSync(process.execPath, [STACK_SCRIPT.replace(/[\\/]dist[\\/]/, '/'), 'up'], {
      stdio: 'inherit',
    });
    if (stack.status !== 0) return stack.status ?? 1;

    for (const p of [SIMULATOR_SMPP_PORT, SIMULATOR_HTTP_PORT]) {
      if (!(await portFree(p)))
        throw new Error(`port ${p} is in use (another simulator or demo running?); stop it and retry`);
    }
    const requestedPort = Number(values.port ?? process.env.PORT ?? 3000);
    // Providers call back on the public URL, so the port must be known before the engine starts.
    const port = (await portFree(requestedPort)) ? requestedPort : await freePort();

    line('2. carrier simulator');
    // Its own process (see simulator-process.ts), on the default ports the engine's built-in
    // carriers file points at.
    const sim = await spawnSimulator({
      smppPort: SIMULATOR_SMPP_PORT,
      httpPort: SIMULATOR_HTTP_PORT,
      scenario: {
        seed: 7,
        latency_ms: { min: 1, max: 5 },
        receipt_delay_ms: { min: 100, max: 800 },
        outcomes: { delivered: 0.95, undelivered: 0.03, expired: 0.01, rejected: 0.01 },
        replies: {
          fraction: replyFraction,
          delay_ms: { min: 500, max: 4_000 },
          pools: [
            { weight: 0.2, texts: ['STOP', 'Stop', 'unsubscribe', 'please stop texting me'] },
            { weight: 0.35, texts: ['YES', 'Yes!', 'Y', 'yes please'] },
            {
              weight: 0.2,
              texts: ['when will my order arrive?', 'Where is my package?', 'any update on my delivery?'],
            },
            { weight: 0.1, texts: ['HELP'] },
            { weight: 0.15, texts: ['Thanks!', 'Who is this?', 'Can you call me back later'] },
          ],
        },
      },
    });
    line(`   SMPP on 127.0.0.1:${SIMULATOR_SMPP_PORT}, HTTP provider and /stats on ${sim.httpUrl}`);

    line('3. engine (all roles)');
    // The engine's own lines (kafkajs's notices among them) go to a file, so the terminal shows
    // only the demo's steps and progress.
    const logFile =
      process.env.PARLEY_LOG_FILE ??
      path.join(os.tmpdir(), `parley-demo-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    const env = parseEnv({
      ...process.env,
      PORT: String(port),
      PARLEY_LOG_LEVEL: process.env.PARLEY_LOG_LEVEL ?? 'info',
      PARLEY_LOG_FILE: logFile,
      // The demo's simulator signs provider webhooks with the development token.
      PARLEY_DEV_WEBHOOK_TOKEN: process.env.PARLEY_DEV_WEBHOOK_TOKEN ?? 'true',
    });
    const engine = await createEngine(env);
    line(`   API on ${engine.url} (docs ${engine.url}/docs, metrics ${engine.url}/metrics)`);
    line(`   engine log: ${logFile}`);
    const { key, workspace } = await engine.app
      .get(WorkspaceService)
      .createKey(`demo-${new Date().toISOString().slice(0, 19)}`);
    line(`   workspace ${workspace.name}; API key ${key}`);
    const api = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ) => {
      const res = await fetch(`${engine.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      const json = text ? JSON.parse(text) : {};
      if (res.status >= 400) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
      return json;
    };

    try {
      await api('PATCH', '/v1/workspace/settings', {
        brand: 'Acme Outfitters',
        support_contact: 'help@acme.example',
        message_frequency: 'Up to 4 msgs/month',
      });
      line(`4. import ${contacts.toLocaleString('en-US')} generated opted-in contacts`);
      const audience = await api('POST', '/v1/audiences', { name: 'Demo customers' });
      const csv = demoContactsCsv(contacts, new Date());
      const imp = await api('POST', `/v1/audiences/${audience.id}/imports?default_country=US`, csv.text, {
        'content-type': 'text/csv',
      });
      let status = imp;
      while (!['completed', 'failed'].includes(status.status)) {
        await sleep(250);
        status = await api('GET', `/v1/imports/${imp.id}`);
        line(
          `   import ${bar(status.imported + status.updated + status.duplicates + status.invalid, status.total || contacts)} ${status.status}`,
          true,
        );
      }
      line(
        `   import ${status.status}: ${status.imported} imported, ${status.updated} updated, ${status.duplicates} duplicates, ${status.invalid} invalid (${elapsed()})`,
      );
      if (status.status !== 'completed') throw new Error(`import failed: ${JSON.stringify(status)}`);

      line('5. campaign plan');
      const campaign = await api('POST', '/v1/campaigns', {
        name: 'Weekend offer',
        audience_id: audience.id,
        from: 'default',
        type: 'marketing',
        body: 'Acme: Hi {{first_name|there}}, {{tier|member}} members get 20% off this weekend. Reply YES to get your code. Reply STOP to opt out.',
        reply_handlers: [
          { intent: 'confirm', record: 'confirmation', auto_reply: 'Acme: Your code is WEEKEND20. Enjoy!' },
          { intent: 'order_question', inbox: true },
        ],
      });
      const plan = campaign.plan;
      line(
        `   recipients ${plan.recipients}, excluded ${plan.excluded.total} (opted out ${plan.excluded.opted_out}, not opted in ${plan.excluded.not_opted_in}, no route ${plan.excluded.no_route}, invalid ${plan.excluded.invalid})`,
      );
      line(
        `   segments ${plan.segments_total} (GSM-7 ${plan.encoding_mix['GSM-7']}, UCS-2 ${plan.encoding_mix['UCS-2']}), quiet hours hold ${plan.quiet_hours_held}`,
      );
      for (const c of plan.carriers)
        line(
          `   ${c.carrier.padEnd(11)} ${String(c.segments).padStart(7)} segments at ${c.effective_segments_per_second}/s (cap ${c.cap_segments_per_second}/s) → ${c.seconds_at_cap} s`,
        );
      line(`   estimated finish ${plan.estimated_finish} (${plan.seconds_at_cap} s at the paced rates)`);

      line('6. launch');
      const launchedAt = Date.now();
      await api('POST', `/v1/campaigns/${campaign.id}/launch`);
      let stats!: CampaignStats;
      let firstSubmitAt: number | undefined;
      const deadline = Date.now() + 150_000;
      while (Date.now() < deadline) {
        await sleep(250);
        stats = (await api('GET', `/v1/campaigns/${campaign.id}`)).stats;
        if (firstSubmitAt === undefined && stats.submitted > 0) firstSubmitAt = Date.now();
        const done = TERMINAL.reduce((a, s) => a + (stats[s] ?? 0), 0);
        line(
          `   ${bar(done, plan.recipients)} submitted ${stats.submitted}, delivered ${stats.delivered}, replies ${stats.replies}, ${stats.current_rate.messages_per_second.toFixed(0)} msg/s`,
          true,
        );
        if (done >= plan.recipients) break;
      }
      line('');
      const drainSeconds = (Date.now() - launchedAt) / 1000;
      line('7. replies');
      // Customers answer a few seconds after delivery; wait until replies stop arriving.
      let last = -1;
      for (let i = 0; i < 20; i++) {
        await sleep(1_000);
        stats = (await api('GET', `/v1/campaigns/${campaign.id}`)).stats;
        if (stats.replies === last) break;
        last = stats.replies;
      }
      const simStats = await sim.stats();
      line('');
      line('== report ==');
      const rows: [string, string | number][] = [
        ['recipients', plan.recipients],
        ['sent (submitted)', stats.submitted],
        ['delivered', stats.delivered],
        ['undelivered', stats.undelivered],
        ['failed', stats.failed],
        ['expired', stats.expired],
        ['suppressed', stats.suppressed],
        ['unknown', stats.unknown],
        ['replies', stats.replies],
        ...Object.entries(stats.replies_by_intent).map(([k, v]) => [`  ${k}`, v] as [string, number]),
        ['opt-outs', stats.opt_outs],
        ['confirmations', stats.confirmed],
        [
          'throughput',
          `${(stats.submitted / drainSeconds).toFixed(0)} msg/s over ${drainSeconds.toFixed(1)} s`,
        ],
        [
          'finish vs plan',
          `${drainSeconds.toFixed(1)} s from launch to the last final status (first submit after ${(((firstSubmitAt ?? launchedAt) - launchedAt) / 1000).toFixed(1)} s); plan ${plan.seconds_at_cap} s (${((100 * drainSeconds) / plan.seconds_at_cap).toFixed(0)} %)`,
        ],
        ['carrier duplicates', simStats.duplicates],
        ['carrier throttled', simStats.throttled],
        ['total time', elapsed()],
      ];
      for (const [k, v] of rows) line(`${k.padEnd(20)} ${v}`);
      if (values.keep) {
        line('');
        line(
          `running: API ${engine.url}  docs ${engine.url}/docs  metrics ${engine.url}/metrics  simulator ${sim.httpUrl}/stats`,
        );
        line(`campaign: curl -H "Authorization: Bearer ${key}" ${engine.url}/v1/campaigns/${campaign.id}`);
        line('Ctrl-C to stop.');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
      }
      return 0;
    } finally {
      await engine.close().catch(() => undefined);
      await sim.stop().catch(() => undefined);
    }
  },
};

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
