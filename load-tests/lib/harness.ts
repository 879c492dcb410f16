// Shared pieces of the load-test scenarios: a dedicated database, engine processes spawned from the
// build (`node dist/src/main.js` with roles), an in-process carrier simulator that also keeps every
// message it accepted (the simulator itself only keeps the last 2,000), API helpers, bounded waits,
// percentiles, and the machine-readable result line `npm run bench` collects.
//
// Everything talks to 127.0.0.1 only; every wait has a deadline; every script ends by itself.
import { TERMINAL_STATUSES } from '../../src/modules/messages/message.types';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import '../../src/infra/kafka/kafkajs-idle-fix';
import { sql } from 'kysely';
import { createDb, Db } from '../../src/infra/db/db';
import { migrateToLatest } from '../../src/infra/db/migrator';
import { CarriersFile, carriersFileSchema } from '../../src/modules/carriers/carriers.config';
import { CarrierSimulator, SimulatedMessage, SimulatorStats } from '../../src/simulator/carrier-simulator';
import { SimulatorProcess, keepTail, spawnSimulator } from '../../src/cli/simulator-process';
import type { ScenarioInput } from '../../src/simulator/scenario';
import { WorkspaceService } from '../../src/modules/workspaces/workspace.service';

/** Repository root (this file runs from dist/load-tests/lib). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const MAIN_JS = path.join(ROOT, 'dist', 'src', 'main.js');
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley_bench';
export const DEFAULT_BROKERS = process.env.BENCH_KAFKA_BROKERS ?? '127.0.0.1:9092';
export const SENDER = '+14155550100';
export const TERMINAL: string[] = [...TERMINAL_STATUSES];

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

export function log(...args: unknown[]) {
  console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...args);
}

/** The machine as RESULTS.md describes it: cores, memory, load at the time. */
export function machine(): string {
  const gib = Math.round(os.totalmem() / 2 ** 30);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `${os.cpus().length} cores, ${gib} GiB, Node ${process.version}, all services on this host; load average ${load}`;
}

// ------------------------------------------------------------------------------------ results

export interface ResultRow {
  scenario: string;
  size: string;
  rate: string;
  target: string;
  verdict: 'pass' | 'FAIL' | 'below target' | 'info' | 'not run';
  notes?: string;
}

/** The line `npm run bench` reads from each scenario's output (one JSON object). */
export function emitResults(scenario: string, rows: ResultRow[], details: string[]) {
  console.log(
    `BENCH_RESULT ${JSON.stringify({ scenario, rows, details, machine: machine(), at: new Date().toISOString() })}`,
  );
}

export function pct(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : String(n);

/** Polls `check` until truthy or the deadline; returns the last value (falsy on timeout). */
export async function waitFor<T>(check: () => Promise<T>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await check();
  while (!v && Date.now() < deadline) {
    await sleep(everyMs);
    v = await check();
  }
  return v;
}

// ------------------------------------------------------------------------------------ database

const migrated = new Set<string>();
/** The bench database (created if missing) at the latest migration; `url` for another server's. */
export async function benchDb(poolSize = 4, url = BENCH_DATABASE_URL): Promise<Db> {
  const u = new URL(url);
  const name = u.pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const exists = execFileSync(
    'psql',
    [admin.toString(), '-tAc', `select 1 from pg_database where datname = '${name}'`],
    {
      encoding: 'utf8',
    },
  ).trim();
  if (exists !== '1') execFileSync('psql', [admin.toString(), '-qc', `create database "${name}"`]);
  const db = createDb(url, poolSize);
  if (!migrated.has(url)) {
    await migrateToLatest(db);
    migrated.add(url);
  }
  return db;
}

export async function createWorkspace(
  db: Db,
  prefix: string,
): Promise<{ workspaceId: string; name: string; key: string }> {
  const name = `${prefix}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const { workspace, key } = await WorkspaceService.on(db).createKey(name);
  return { workspaceId: workspace.id, name: workspace.name, key };
}

export async function statusCounts(
  db: Db,
  workspaceId: string,
  campaignId?: string,
): Promise<Record<string, number>> {
  const r = campaignId
    ? await sql<{ status: string; n: number }>`
    select status, count(*)::int as n from messages where workspace_id = ${workspaceId} and campaign_id = ${campaignId} group by status`.execute(
        db,
      )
    : await sql<{ status: string; n: number }>`
    select status, count(*)::int as n from messages where workspace_id = ${workspaceId} group by status`.execute(
        db,
      );
  return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
}

export const sumOf = (c: Record<string, number>, keys?: string[]) =>
  Object.entries(c)
    .filter(([k]) => !keys || keys.includes(k))
    .reduce((a, [, v]) => a + v, 0);

/** Waits until every message of the workspace (at least `expected`) is terminal; returns the counts. */
export async function waitAllTerminal(
  db: Db,
  workspaceId: string,
  expected: number,
  timeoutMs: number,
  progress?: (c: Record<string, number>) => void,
  campaignId?: string,
): Promise<{ ok: boolean; counts: Record<string, number>; doneAt: number }> {
  let counts: Record<string, number> = {};
  let lastLog = 0;
  const ok = await waitFor(
    async () => {
      counts = await statusCounts(db, workspaceId, campaignId).catch(() => counts);
      if (progress && Date.now() - lastLog > 5_000) {
        lastLog = Date.now();
        progress(counts);
      }
      const total = sumOf(counts);
      return total >= expected && sumOf(counts, TERMINAL) === total;
    },
    timeoutMs,
    250,
  );
  return { ok, counts, doneAt: now() };
}

/** Terminal messages the engines counted (parley_messages_final_total summed over the processes). */
export async function finalsCounted(
  engines: EngineProc[],
  type?: 'transactional' | 'marketing',
): Promise<number> {
  let n = 0;
  for (const e of engines) {
    const text = await fetch(`${e.url}/metrics`, { signal: AbortSignal.timeout(5_000) })
      .then((r) => r.text())
      .catch(() => '');
    for (const m of text.matchAll(/^parley_messages_final_total\{([^}]*)\} (\S+)$/gm))
      if (!type || m[1].includes(`type="${type}"`)) n += Number(m[2]);
  }
  return n;
}

/**
 * Until every message is terminal in PostgreSQL. Counting statuses in the database four times a
 * second scans all of the run's messages each time (85 ms at 100,000, a core's worth at 500,000),
 * taking from the engine the PostgreSQL it measures; the engines' own count of final statuses
 * (incremented after the commit) is polled instead, and the database confirms once at the end
 * (at least `expected` in the workspace, every one terminal).
 */
export async function waitTerminal(
  engines: EngineProc[],
  db: Db,
  workspaceId: string,
  expected: number,
  timeoutMs: number,
  /** Final statuses the engines had counted before these messages (an earlier phase of the run). */
  countedBefore = 0,
) {
  let lastLog = Date.now();
  const countedAt = await waitFor(
    async () => {
      if (Date.now() - lastLog > 5_000) {
        lastLog = Date.now();
        log('  statuses', JSON.stringify(await statusCounts(db, workspaceId)));
      }
      return (await finalsCounted(engines)) >= countedBefore + expected ? now() : 0;
    },
    timeoutMs,
    250,
  );
  const counts = await statusCounts(db, workspaceId);
  const total = sumOf(counts);
  if (countedAt && total >= expected && sumOf(counts, TERMINAL) === total)
    return { ok: true, counts, doneAt: countedAt };
  log('  the engines counted all final, the database not yet (or the wait timed out); polling the database');
  return waitAllTerminal(db, workspaceId, expected, countedAt ? 60_000 : 1_000, (c) =>
    log('  statuses', JSON.stringify(c)),
  );
}

// ------------------------------------------------------------------------------------ simulator

export interface Sim {
  sim: CarrierSimulator;
  /** Every whole message the simulator accepted, in order (not trimmed). */
  sent: SimulatedMessage[];
  /** The carriers file with its SMPP connector pointed at this simulator, written for the engine. */
  file: string;
  carriers: CarriersFile;
  stop(): Promise<void>;
}

/** Two carriers (+1202 alpha, +1303 beta) and one sender on one SMPP connector, all caps given. */
export function benchCarriers(opts: {
  alpha: number;
  beta: number;
  sender?: number;
  binds?: number;
  window?: number;
}): CarriersFile {
  return carriersFileSchema.parse({
    connectors: [
      {
        id: 'smpp',
        kind: 'smpp',
        host: '127.0.0.1',
        port: 2775,
        system_id: 'parley',
        password: 'secret',
        binds: opts.binds ?? 2,
        window: opts.window ?? 100,
        enquire_link_seconds: 5,
        response_timeout_ms: 5_000,
      },
    ],
    carriers: [
      { id: 'alpha', prefixes: ['+1202'], segments_per_second: opts.alpha },
      { id: 'beta', prefixes: ['+1303'], segments_per_second: opts.beta },
    ],
    senders: [
      {
        address: SENDER,
        kind: 'long_code',
        segments_per_second: opts.sender ?? 1_000_000,
        connector: 'smpp',
        pool: 'bench',
      },
    ],
    default_from: 'bench',
  });
}

export async function startSim(carriers: CarriersFile, scenario: ScenarioInput): Promise<Sim> {
  const sim = new CarrierSimulator({ smppPort: 0, httpPort: 0, carriers, scenario });
  const sent: SimulatedMessage[] = [];
  const record = sim.record.bind(sim);
  sim.record = (m: SimulatedMessage) => {
    sent.push(m);
    record(m);
  };
  await sim.start();
  const withPort = carriersFileSchema.parse({
    ...carriers,
    connectors: carriers.connectors.map((c) => (c.kind === 'smpp' ? { ...c, port: sim.smppPort } : c)),
  });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'parley-bench-')), 'carriers.json');
  writeFileSync(file, JSON.stringify(withPort));
  return { sim, sent, file, carriers: withPort, stop: () => sim.stop() };
}

/** The simulator in a process of its own (src/cli/simulator-process.ts), with its carriers file. */
export interface SimProc extends SimulatorProcess {
  file: string;
  carriers: CarriersFile;
}

/**
 * Runs `parley simulate` as its own process on free ports, with a carriers file pointing the SMPP
 * connector at it. In the bench's process the simulator's clock stalled whenever the bench worked
 * (building and posting batches: event-loop delays of 40–100 ms were measured there), and a stall
 * let submits that left evenly arrive bunched, which a cap run would then blame on the engine.
 * It also asks to be scheduled ahead of the rest (as a carrier's SMSC has its own machines; when
 * allowed: root): BENCH_SIM_NICE=0 turns that off.
 */
export async function startSimProcess(
  carriers: CarriersFile,
  scenario: ScenarioInput,
  opts: { journal?: boolean } = {},
): Promise<SimProc> {
  const smppPort = freePort();
  const httpPort = freePort();
  const withPort = carriersFileSchema.parse({
    ...carriers,
    connectors: carriers.connectors.map((c) => (c.kind === 'smpp' ? { ...c, port: smppPort } : c)),
  });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'parley-bench-sim-')), 'carriers.json');
  writeFileSync(file, JSON.stringify(withPort));
  const sim = await spawnSimulator({
    scenario,
    smppPort,
    httpPort,
    carriersFile: file,
    nice: Number(process.env.BENCH_SIM_NICE ?? -10),
    journal: opts.journal,
  });
  return { ...sim, file, carriers: withPort };
}

/**
 * Cap check from the simulator's own counters: segments offered (accepted or throttled) in any
 * one-second window ≤ cap per carrier. The accepted peak cannot exceed a cap (the simulator answers
 * the excess "throttled"), so only the offered peak shows a dispatcher going over.
 */
export function capViolations(
  sim: CarrierSimulator | SimulatorStats,
): { carrier: string; peak: number; cap: number }[] {
  const s = sim instanceof CarrierSimulator ? sim.stats() : sim;
  return Object.entries(s.carriers)
    .filter(([, c]) => c.peak_offered > c.cap)
    .map(([carrier, c]) => ({ carrier, peak: c.peak_offered, cap: c.cap }));
}

// ------------------------------------------------------------------------------------ numbers

const SALT = Math.floor(Math.random() * 8_000_000);
/** A unique valid NANP number under an area-code prefix (+1202 / +1303): exchange 2-9xx. */
export function numberAt(prefix: string, i: number): string {
  return `${prefix}${2_000_000 + ((SALT + i) % 8_000_000)}`;
}

// ------------------------------------------------------------------------------------ engine processes

export interface EngineProc {
  proc: ChildProcess;
  url: string;
  port: number;
  roles: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

let nextPort = 3900 + Math.floor(Math.random() * 80);
export function freePort(): number {
  return nextPort++;
}

export function benchEnv(extra: Record<string, string>): Record<string, string> {
  return {
    ...(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined)) as Record<
      string,
      string
    >),
    NODE_ENV: 'development',
    DATABASE_URL: BENCH_DATABASE_URL,
    PARLEY_MIGRATE_ON_START: 'false',
    PARLEY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    KAFKA_BROKERS: DEFAULT_BROKERS,
    ...extra,
  };
}

export interface EngineSpec {
  roles: string;
  name: string;
  env?: Record<string, string>;
}

/** PARLEY_NICE of the bulk roles in the split layout (as deploy/ sets it); BENCH_BULK_NICE=0: off. */
const BULK_NICE = process.env.BENCH_BULK_NICE ?? '5';

/**
 * The dispatcher processes of a layout, the one that takes campaigns first: `split` a bulk and a
 * priority dispatcher (as deploy/ runs them), `all` one dispatcher on both topics.
 */
export function dispatcherSpecs(kind: string | undefined): EngineSpec[] {
  if (kind === 'all') return [{ roles: 'dispatcher', name: 'dispatcher' }];
  if (kind !== 'split') throw new Error(`--engines: all or split, not ${kind}`);
  return [
    {
      roles: 'dispatcher',
      name: 'dispatcher',
      env: { PARLEY_DISPATCH_TOPICS: 'bulk', PARLEY_NICE: BULK_NICE },
    },
    { roles: 'dispatcher', name: 'dispatcher-priority', env: { PARLEY_DISPATCH_TOPICS: 'priority' } },
  ];
}

/**
 * The engine processes of a layout: `split` as deploy/ runs them (api | bulk dispatcher | priority
 * dispatcher | receipts, router and scheduler), `all` one process with every role.
 */
export function engineLayout(kind: string | undefined): EngineSpec[] {
  if (kind === 'all') return [{ roles: 'all', name: 'engine' }];
  return [
    { roles: 'api', name: 'api' },
    ...dispatcherSpecs(kind),
    { roles: 'receipts,router,scheduler', name: 'receipts+', env: { PARLEY_NICE: BULK_NICE } },
  ];
}

/** The pids of a layout's processes by name, as CpuMeter takes them. */
export function pidsByName(layout: EngineSpec[], procs: EngineProc[]): Record<string, number | undefined> {
  return Object.fromEntries(procs.map((p, i) => [layout[i].name, p.proc.pid]));
}

/** Spawns a layout's processes in order (the first one serves the API). */
export async function spawnEngines(
  layout: EngineSpec[],
  env: Record<string, string>,
  suffix = '',
): Promise<EngineProc[]> {
  const procs: EngineProc[] = [];
  try {
    for (const e of layout)
      procs.push(await spawnEngine(e.roles, { ...env, ...e.env }, { name: e.name + suffix }));
  } catch (err) {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    throw err;
  }
  return procs;
}

/** Spawns `node dist/src/main.js` with the roles and waits for /health/live (and ready if asked). */
export async function spawnEngine(
  roles: string,
  env: Record<string, string>,
  opts: { port?: number; waitReady?: boolean; name?: string; timeoutMs?: number } = {},
): Promise<EngineProc> {
  const port = opts.port ?? freePort();
  // BENCH_ENGINE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the engines.
  const nodeArgs = (process.env.BENCH_ENGINE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, MAIN_JS], {
    env: benchEnv({
      ...env,
      PARLEY_ROLES: roles,
      PORT: String(port),
      PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const name = opts.name ?? roles;
  const tail = keepTail(proc, (line) => {
    if (process.env.BENCH_ENGINE_LOGS)
      console.log(`  [${name}] ${line.slice(0, Number(process.env.BENCH_ENGINE_LOG_CHARS ?? 400))}`);
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  // An engine that dies on its own (not through kill below or a scenario's signal) says so, with
  // its last lines: otherwise a bench only sees nothing moving.
  let stopping = false;
  proc.once('exit', (code, signal) => {
    if (signal || stopping) return;
    console.log(
      `[${name}] engine exited on its own (code ${code}); last output:\n${tail.join('\n').slice(-4000)}`,
    );
  });
  const url = `http://127.0.0.1:${port}`;
  const ready = await waitFor(
    async () => {
      if (proc.exitCode !== null) return 'exited';
      try {
        const res = await fetch(`${url}/health/${opts.waitReady === false ? 'live' : 'ready'}`);
        return res.ok ? 'ok' : '';
      } catch {
        return '';
      }
    },
    opts.timeoutMs ?? 90_000,
    300,
  );
  if (ready !== 'ok') {
    proc.kill('SIGKILL');
    throw new Error(
      `engine (${name}) did not become ready (${ready || 'timeout'}); last output:\n${tail.join('\n')}`,
    );
  }
  return {
    proc,
    url,
    port,
    roles,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode) return;
      stopping = true;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** utime + stime of a /proc/<pid>/stat line, in seconds (clock ticks of USER_HZ 100). */
function statCpuSeconds(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

/** The services whose CPU a benchmark accounts for, by process name (comm in /proc). */
const SERVICES: Record<string, string> = { postgres: 'postgres', java: 'kafka', 'redis-server': 'redis' };

export interface HostCpu {
  /** Busy CPU seconds of the whole host (user, nice, system, irq, softirq, steal), all cores. */
  busy: number;
  /** CPU seconds of the shared services by name (postgres, kafka, redis), live processes only. */
  services: Record<string, number>;
}

/** A snapshot of the host's CPU use, from /proc (Linux). */
export function hostCpu(): HostCpu {
  const services: Record<string, number> = { postgres: 0, kafka: 0, redis: 0 };
  let busy = NaN;
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    busy = (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / 100;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const name = SERVICES[stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))];
        if (name) services[name] += statCpuSeconds(stat);
      } catch {
        // the process ended between the listing and the read
      }
    }
  } catch {
    // not Linux
  }
  return { busy, services };
}

/** CPU seconds this process has used so far (user + system). */
const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * CPU used from a start on (`restart` moves it): by named processes (a pid, or 'self' for this
 * one), by the shared services, and by the whole host.
 */
export class CpuMeter {
  private host0!: HostCpu;
  private own0!: Record<string, number>;

  constructor(private readonly processes: Record<string, number | undefined | 'self'>) {
    this.restart();
  }

  restart(): void {
    this.own0 = this.own();
    this.host0 = hostCpu();
  }

  /** CPU seconds since the start: per named process, per service, and the host's busy time. */
  since(): { processes: Record<string, number>; services: Record<string, number>; busy: number } {
    const own = this.own();
    const host = hostCpu();
    return {
      processes: Object.fromEntries(Object.keys(own).map((k) => [k, own[k] - this.own0[k]])),
      services: Object.fromEntries(
        Object.keys(host.services).map((k) => [k, host.services[k] - this.host0.services[k]]),
      ),
      busy: host.busy - this.host0.busy,
    };
  }

  /** What `since` says, in µs per message of `n`, as `name µs` parts (busy is the host's). */
  perMessage(n: number): { parts: string; busyUs: number } {
    const d = this.since();
    const us = (s: number) => Math.round((s * 1e6) / n);
    const parts = [...Object.entries(d.processes), ...Object.entries(d.services)].map(
      ([k, v]) => `${k} ${us(v)} µs`,
    );
    const busyUs = us(d.busy);
    return { parts: `${parts.join(', ')}; host busy ${busyUs} µs`, busyUs };
  }

  private own(): Record<string, number> {
    return Object.fromEntries(
      Object.entries(this.processes).map(([k, pid]) => [
        k,
        pid === 'self' ? selfCpuSeconds() : cpuSecondsOf(pid),
      ]),
    );
  }
}

/** Consumer group joined: the engine's metrics or a short grace; good enough for a benchmark start. */
export async function settle(ms = 3_000) {
  await sleep(ms);
}

// ------------------------------------------------------------------------------------ API

export class Api {
  constructor(
    readonly url: string,
    readonly key: string,
  ) {}

  async req<T = any>(
    method: string,
    p: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const h: Record<string, string> = { authorization: `Bearer ${this.key}`, ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.url}${p}`, {
      method,
      headers: h,
      body: payload,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let parsed: any = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T };
  }
  get<T = any>(p: string) {
    return this.req<T>('GET', p);
  }
  post<T = any>(p: string, body: unknown = {}, headers?: Record<string, string>) {
    return this.req<T>('POST', p, body, headers);
  }
  async must<T = any>(
    method: string,
    p: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> {
    const r = await this.req<T>(method, p, body, headers);
    if (r.status >= 300)
      throw new Error(`${method} ${p} → ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
    return r.body;
  }
}

/** Sends `count` messages through POST /v1/messages/batch (1,000 a request, `concurrency` at once). */
export async function sendBatches(
  api: Api,
  make: (i: number) => Record<string, unknown>,
  count: number,
  concurrency = 3,
): Promise<{ accepted: string[]; invalid: number; errors: string[] }> {
  const accepted: string[] = [];
  const errors: string[] = [];
  let invalid = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const from = next;
      const to = Math.min(count, from + 1_000);
      next = to;
      const messages = [];
      for (let i = from; i < to; i++) messages.push(make(i));
      const r = await api.post<{ results: { status: string; id?: string; error?: unknown }[] }>(
        '/v1/messages/batch',
        { messages },
      );
      if (r.status !== 200) {
        errors.push(`${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        continue;
      }
      for (const x of r.body.results) {
        if (x.status === 'accepted' && x.id) accepted.push(x.id);
        else {
          invalid++;
          if (errors.length < 5) errors.push(JSON.stringify(x).slice(0, 300));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { accepted, invalid, errors };
}

// ------------------------------------------------------------------------------------ Kafka

export function topicPrefix(name: string): string {
  return `bench${name}${Date.now().toString(36)}.`;
}

/** Deletes the topics a bench run created under its prefix (never any other topic). */
export async function deleteTopics(prefix: string, brokers = DEFAULT_BROKERS): Promise<void> {
  if (!prefix.startsWith('bench')) return;
  const kafka = new Kafka({
    clientId: 'parley-bench-cleanup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = (await admin.listGroups()).groups
      .map((g) => g.groupId)
      .filter((g) => g.startsWith(prefix));
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
  } catch {
    /* best effort */
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Picks an IANA zone whose local time is now well inside 08:00-21:00 (quiet hours never hold). */
export function daytimeZone(): string {
  const zones = [
    'UTC',
    'Europe/London',
    'Europe/Berlin',
    'America/New_York',
    'America/Chicago',
    'America/Los_Angeles',
    'Pacific/Honolulu',
    'Asia/Tokyo',
    'Asia/Kolkata',
    'Australia/Sydney',
    'Pacific/Auckland',
  ];
  const hourIn = (tz: string) => {
    const p = new Intl.DateTimeFormat('en-GB', {
      timeZone: tz,
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    }).format(new Date());
    const [h, m] = p.split(':').map(Number);
    return h + m / 60;
  };
  return zones.map((z) => ({ z, d: Math.abs(hourIn(z) - 13) })).sort((a, b) => a.d - b.d)[0].z;
}

/** A sized scenario: small by default, the size with --full, or an explicit --n. */
export function sizeOf(values: { full?: boolean; n?: string }, small: number, full: number): number {
  if (values.n) return Number(values.n);
  return values.full ? full : small;
}

/** Hard stop: whatever happens, the script exits after `ms`. */
export function watchdog(ms: number, onTimeout?: () => void) {
  const t = setTimeout(() => {
    console.error(`bench: watchdog: gave up after ${Math.round(ms / 1000)} s`);
    onTimeout?.();
    process.exit(3);
  }, ms);
  t.unref();
}
