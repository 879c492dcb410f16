// Kannel as a same-run baseline for the send path. One run:
//  1. Kannel (Debian's package: bearerbox + smsbox; installed when missing) against the project's
//     carrier simulator in its own process, caps set high, every outcome delivered: N messages, one
//     per sendsms request (a bounded number of keep-alive requests at once), each asking for its
//     DLR (dlr-mask 3) on a dlr-url that a small HTTP receiver in this process counts; msg/s from
//     the first sendsms request to the last delivered DLR, and host CPU per message by process;
//  2. unless --skip-parley, Parley's API path the way the send bench measures it (the send bench
//     itself, as a child: `node dist/load-tests/send/bench.js --skip-caps --skip-raw --n N`), so
//     that bench stays the one definition of Parley's rate;
//  alternating the two --runs times, then a table (msg/s; host busy, own and other CPU per message)
//  and the ratio Parley / Kannel. Parley's runs use a database of their own (parley_bench_kannel,
//  dropped before each run). Other benches or engines seen on the host around a run are reported.
//
// Kannel's settings (kept as an earlier measurement had them): one SMPP transceiver bind,
// max-pending-submits 100, no throughput limit, DLRs on, store-type file, sendsms over smsbox HTTP
// with one message per request. Logs at warning level (no access log); they stay in the run's temp
// dir, whose path is printed when something fails (--keep-logs keeps it always).
//
//   npx tsc -p tsconfig.build.json && node dist/load-tests/peers/kannel/bench.js [--n 20000] [--runs 2] [--skip-parley]
//   --parley-root DIR: Parley from another build's send bench (e.g. `git archive HEAD` unpacked and
//   built there, while the working tree is mid-change); the default is this build's.
//   options: --concurrency 64 (sendsms requests in flight; 32 was slower, 128 and 200 no faster) --keep-logs
import { ChildProcess, execFileSync, execSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { keepTail } from '../../../src/cli/simulator-process';
import {
  CpuMeter,
  ROOT,
  ResultRow,
  SENDER,
  SimProc,
  benchCarriers,
  emitResults,
  fmt,
  log,
  now,
  numberAt,
  sleep,
  startSimProcess,
  waitFor,
  watchdog,
} from '../../lib/harness';
import { allDelivered, runScenario } from '../../lib/bench-run';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '2' },
    'skip-parley': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '64' },
    'keep-logs': { type: 'boolean', default: false },
    /** The send bench of another build (a checkout of another commit, built): its dist/ is used. */
    'parley-root': { type: 'string' },
  },
});
const N = Number(values.n);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
if (!(N > 0) || !(RUNS > 0) || !(CONCURRENCY > 0))
  throw new Error('--n, --runs and --concurrency take positive numbers');
const SIZE = `${fmt(N)} msgs`;
const HIGH = 1_000_000;
const BEARERBOX = '/usr/sbin/bearerbox';
const SMSBOX = '/usr/sbin/smsbox';
const PARLEY_ROOT = path.resolve(values['parley-root'] ?? ROOT);
const SEND_BENCH = path.join(PARLEY_ROOT, 'dist', 'load-tests', 'send', 'bench.js');
/** The simulator account Kannel binds with (a connector of its own in the carriers file). */
const KANNEL_ACCOUNT = { system_id: 'kannel', password: 'kannelpw' };
const SCENARIO = allDelivered(11);

const rows: ResultRow[] = [];
const details: string[] = [];

// ------------------------------------------------------------------------------------ cleanup

/** Every process this bench started and has not seen end: killed on exit, failure or watchdog. */
const live = new Map<number, { name: string; group: boolean }>();
function track(proc: ChildProcess, name: string, group = false) {
  if (!proc.pid) return;
  live.set(proc.pid, { name, group });
  proc.once('exit', () => live.delete(proc.pid!));
}
/** The simulator the harness spawned: known here by its pid only. */
function trackSim(sim: SimProc): SimProc {
  live.set(sim.pid, { name: 'simulator', group: false });
  const stop = sim.stop;
  return { ...sim, stop: () => stop().finally(() => live.delete(sim.pid)) };
}
/** Synchronous, for `exit` handlers: SIGKILL to what is left (a whole group for a detached child). */
function killAllNow() {
  for (const [pid, p] of live) {
    try {
      process.kill(p.group ? -pid : pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  live.clear();
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    console.error(`kannel bench: ${sig}, stopping what it started`);
    process.exit(130);
  });
// A run takes ~N/1000 s of Kannel and, for Parley, the send bench's own start-up and drain.
watchdog((8 + RUNS * (6 + N / 2_500)) * 60_000, killAllNow);

async function stopProc(
  proc: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
  group = false,
) {
  if (proc.exitCode !== null || proc.signalCode) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const kill = (s: NodeJS.Signals) => {
    try {
      process.kill(group ? -proc.pid! : proc.pid!, s);
    } catch {
      /* gone */
    }
  };
  kill(signal);
  const t = setTimeout(() => kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

// ------------------------------------------------------------------------------------ install

function sh(cmd: string) {
  log(`$ ${cmd}`);
  execSync(cmd, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/**
 * Kannel boxes of the system service (run on /etc/kannel's config, as Debian's init script starts
 * them); another bench's Kannel, on a config of its own in a temp dir, is left alone.
 */
function foreignKannel(): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || live.has(Number(p))) continue;
    try {
      const comm = readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      if (!['bearerbox', 'smsbox', 'wapbox', 'run_kannel_box'].includes(comm)) continue;
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('/etc/kannel/'))
        out.push({ pid: Number(p), comm });
    } catch {
      /* ended */
    }
  }
  return out;
}

/**
 * Debian's kannel when bearerbox is missing, with service starts refused while it installs
 * (policy-rc.d exit 101, only if none is there already); then any system kannel service that runs
 * anyway is stopped through its init script, so it takes no ports.
 */
function ensureKannel() {
  if (!existsSync(BEARERBOX) || !existsSync(SMSBOX)) {
    log(`Kannel: ${BEARERBOX} missing; installing Debian's kannel package`);
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) {
      log(`Kannel: writing ${policy} (exit 101) so the package's service is not started; removed afterwards`);
      writeFileSync(
        policy,
        '#!/bin/sh\n# written by load-tests/peers/kannel/bench.ts while installing kannel\nexit 101\n',
        { mode: 0o755 },
      );
    } else
      log(
        `Kannel: ${policy} exists already (${readFileSync(policy, 'utf8').includes('exit 101') ? 'refuses service starts' : 'as it is'})`,
      );
    try {
      sh('apt-get update -qq');
      sh('apt-get install -y -qq kannel');
    } finally {
      if (ownPolicy) unlinkSync(policy);
    }
    if (!existsSync(BEARERBOX)) throw new Error(`Kannel: still no ${BEARERBOX} after installing`);
  }
  const foreign = foreignKannel();
  if (foreign.length) {
    log(
      `Kannel: a system kannel is running (${foreign.map((f) => `${f.comm} ${f.pid}`).join(', ')}); stopping its service`,
    );
    if (existsSync('/etc/init.d/kannel')) sh('/etc/init.d/kannel stop || true');
    else if (existsSync('/run/systemd/system')) sh('systemctl stop kannel || true');
    const left = foreignKannel();
    if (left.length)
      throw new Error(
        `Kannel: a system kannel still runs (${left.map((f) => `${f.comm} ${f.pid}`).join(', ')}); stop it first`,
      );
  }
  const version = execSync(`dpkg-query -W -f '\${Version}' kannel 2>/dev/null || true`, {
    encoding: 'utf8',
  }).trim();
  return version || 'unknown';
}

// ------------------------------------------------------------------------------------ neighbours

/**
 * Engines, benches and Kannel boxes on the host that this bench did not start (not its
 * descendants): another run at the same time takes CPU from both systems' figures.
 */
function foreignBenchProcesses(): string[] {
  const parent = new Map<number, number>();
  const found: { pid: number; what: string }[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      const what =
        /dist\/src\/main\.js|dist\/load-tests\/\S+|\bsimulate\b|\/usr\/sbin\/(?:bearerbox|smsbox)/.exec(
          cmd,
        )?.[0];
      if (what && /node|bearerbox|smsbox/.test(cmd)) found.push({ pid: Number(p), what });
    } catch {
      /* ended */
    }
  }
  // Its descendants are this bench's; its ancestors (a shell, `timeout`) are not another bench.
  const ancestors = new Set<number>();
  for (let p = process.pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) ancestors.add(p);
  const mine = (pid: number) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++)
      if (p === process.pid) return true;
    return false;
  };
  const counts = new Map<string, number>();
  for (const f of found)
    if (!mine(f.pid) && !ancestors.has(f.pid)) counts.set(f.what, (counts.get(f.what) ?? 0) + 1);
  return [...counts].map(([what, n]) => (n > 1 ? `${what} ×${n}` : what));
}

/** Says (and notes) when others ran benches or engines on the host around a run. */
function neighbours(label: string): string {
  const f = foreignBenchProcesses();
  if (!f.length) return '';
  const line = `${label}: other bench/engine processes on the host (figures disturbed): ${f.join(', ')}`;
  log(line);
  details.push(line);
  return `other benches' processes`;
}

// ------------------------------------------------------------------------------------ ports

/** A port nothing listens on now (the kernel's pick for port 0 on 127.0.0.1). */
function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------------------------ DLR receiver

/**
 * Counts delivered DLRs per message index (from the dlr-url's `i`), and when the last one came.
 * It reads HTTP/1.1 GETs off the socket itself (keep-alive, pipelining allowed) and answers `200
 * ok`: node's http server cost this process ~55 µs more per message, which the host's two cores
 * then lacked for Kannel (see Conn).
 */
class DlrReceiver {
  private server = net.createServer((socket) => this.onSocket(socket));
  private sockets = new Set<net.Socket>();
  port = 0;
  delivered = new Uint8Array(0);
  count = 0;
  other = 0;
  otherTypes: Record<string, number> = {};
  lastAt = 0;
  requests = 0;
  private want = 0;
  private done?: () => void;

  async start() {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Forgets what came and counts from now on, for indexes 0..size-1. */
  reset(size: number) {
    this.delivered = new Uint8Array(size);
    this.count = 0;
    this.other = 0;
    this.otherTypes = {};
    this.lastAt = 0;
    this.requests = 0;
  }

  /** Resolves when `want` distinct messages had a delivered DLR (or at the deadline). */
  waitAll(want: number, timeoutMs: number): Promise<boolean> {
    this.want = want;
    if (this.count >= want) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.done = undefined;
        resolve(false);
      }, timeoutMs);
      this.done = () => {
        clearTimeout(t);
        this.done = undefined;
        resolve(true);
      };
    });
  }

  url(i: number) {
    // Kannel puts the DLR type (1 delivered, 2 failed, ...) in for %d.
    return `http://127.0.0.1:${this.port}/dlr?i=${i}&t=%d`;
  }

  private onSocket(socket: net.Socket) {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      let answers = '';
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.toString('latin1', 0, end);
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) break;
        buf = buf.subarray(end + 4 + len);
        this.onRequest(head.slice(head.indexOf(' ') + 1, head.indexOf(' ', head.indexOf(' ') + 1)));
        answers += 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok';
      }
      if (answers) socket.write(answers);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private onRequest(u: string) {
    this.requests++;
    const q = u.indexOf('?');
    const params = new URLSearchParams(q >= 0 ? u.slice(q + 1) : '');
    const i = Number(params.get('i'));
    const t = params.get('t') ?? '';
    if (t === '1' && Number.isInteger(i) && i >= 0 && i < this.delivered.length) {
      if (!this.delivered[i]) {
        this.delivered[i] = 1;
        this.count++;
        this.lastAt = now();
        if (this.done && this.count >= this.want) this.done();
      }
    } else {
      this.other++;
      this.otherTypes[t] = (this.otherTypes[t] ?? 0) + 1;
    }
  }

  stop() {
    for (const s of this.sockets) s.destroy();
    return new Promise<void>((r) => this.server.close(() => r()));
  }
}
// ------------------------------------------------------------------------------------ Kannel

interface Kannel {
  dir: string;
  bearerbox: ChildProcess;
  smsbox: ChildProcess;
  sendsmsPort: number;
  adminPort: number;
  logs: string[];
  stop(): Promise<void>;
}

const ADMIN_PASSWORD = 'bench';
const SENDSMS_USER = { username: 'bench', password: 'bench' };

function kannelConf(o: {
  dir: string;
  adminPort: number;
  boxPort: number;
  sendsmsPort: number;
  smppPort: number;
}): string {
  return `# Kannel for load-tests/peers/kannel/bench.ts (written per run)
group = core
admin-port = ${o.adminPort}
admin-password = ${ADMIN_PASSWORD}
status-password = ${ADMIN_PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = ${o.boxPort}
box-allow-ip = "127.0.0.1"
log-file = "${o.dir}/bearerbox.log"
log-level = 2
dlr-storage = internal
store-type = file
store-location = "${o.dir}/kannel.store"

# one SMPP transceiver bind to the carrier simulator; window 100; no throughput limit
group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = ${o.smppPort}
transceiver-mode = true
smsc-username = ${KANNEL_ACCOUNT.system_id}
smsc-password = ${KANNEL_ACCOUNT.password}
system-type = ""
max-pending-submits = 100
enquire-link-interval = 30
reconnect-delay = 1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = ${o.boxPort}
sendsms-port = ${o.sendsmsPort}
log-file = "${o.dir}/smsbox.log"
log-level = 2

group = sendsms-user
username = ${SENDSMS_USER.username}
password = ${SENDSMS_USER.password}
max-messages = 1
concatenation = false
`;
}

async function startKannel(smppPort: number): Promise<Kannel> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-kannel-'));
  const adminPort = await freeTcpPort();
  const boxPort = await freeTcpPort();
  const sendsmsPort = await freeTcpPort();
  const conf = path.join(dir, 'kannel.conf');
  writeFileSync(conf, kannelConf({ dir, adminPort, boxPort, sendsmsPort, smppPort }));
  // An empty store to load: without one, bearerbox logs ERROR lines for each file it looked for.
  writeFileSync(path.join(dir, 'kannel.store'), '');
  const logs = [path.join(dir, 'bearerbox.log'), path.join(dir, 'smsbox.log')];
  const procs: ChildProcess[] = [];
  const stop = async () => {
    // smsbox first (it would reconnect to a bearerbox that goes), then bearerbox.
    for (const p of [...procs].reverse()) await stopProc(p);
  };
  // Console output at errors only (-v 4): Kannel's default console level is debug.
  const run = (bin: string, name: string) => {
    const p = spawn(bin, ['-v', '4', conf], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    track(p, name);
    procs.push(p);
    const tail = keepTail(p, (line) => {
      if (process.env.BENCH_KANNEL_LOGS) console.log(`  [${name}] ${line}`);
    });
    return { p, tail };
  };
  try {
    const bb = run(BEARERBOX, 'bearerbox');
    // Bound to the simulator: the admin status lists the SMSC as online.
    const online = await waitFor(
      async () => {
        if (bb.p.exitCode !== null) return 'exited';
        const text = await fetch(`http://127.0.0.1:${adminPort}/status.txt?password=${ADMIN_PASSWORD}`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.text())
          .catch(() => '');
        return /SMSC connections:[\s\S]*\bsim\b.*\(online/.test(text) ? 'ok' : '';
      },
      30_000,
      200,
    );
    if (online !== 'ok')
      throw new Error(
        `bearerbox did not bind to the simulator (${online || 'timeout'}); logs in ${dir}; last output:\n${bb.tail.join('\n')}`,
      );
    const sb = run(SMSBOX, 'smsbox');
    // smsbox up and connected: bearerbox lists it, and its sendsms port answers.
    const up = await waitFor(
      async () => {
        if (sb.p.exitCode !== null) return 'exited';
        const status = await fetch(`http://127.0.0.1:${adminPort}/status.txt?password=${ADMIN_PASSWORD}`, {
          signal: AbortSignal.timeout(2_000),
        })
          .then((r) => r.text())
          .catch(() => '');
        if (!/smsbox:/.test(status)) return '';
        const ok = await fetch(`http://127.0.0.1:${sendsmsPort}/cgi-bin/sendsms`, {
          signal: AbortSignal.timeout(2_000),
        }).then(
          () => true,
          () => false,
        );
        return ok ? 'ok' : '';
      },
      30_000,
      200,
    );
    if (up !== 'ok')
      throw new Error(
        `smsbox did not come up (${up || 'timeout'}); logs in ${dir}; last output:\n${sb.tail.join('\n')}`,
      );
    return { dir, bearerbox: bb.p, smsbox: sb.p, sendsmsPort, adminPort, logs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** ERROR / PANIC lines of Kannel's logs (and how many). */
function kannelLogErrors(k: Kannel): { count: number; first: string[] } {
  const first: string[] = [];
  let count = 0;
  for (const f of k.logs) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (/\b(ERROR|PANIC):/.test(line)) {
        count++;
        if (first.length < 8) first.push(`${path.basename(f)}: ${line}`);
      }
    }
  }
  return { count, first };
}

const bodyOf = (i: number) => `Your parcel ${i} is out for delivery today, track it at example.com/t/${i}`;

/**
 * One keep-alive HTTP/1.1 connection that sends a request at a time and reads the answer by its
 * Content-Length: the load generator shares the host's two cores with Kannel, and with node's http
 * client and server this process spent about 240 µs per message (its sendsms request and its DLR),
 * a quarter of the host's CPU per message, taken from Kannel's rate; with this client ~170 µs, and
 * with the DLR receiver below as well ~115 µs (20,000 messages, --concurrency 64–200).
 */
class Conn {
  private socket?: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (r: { status: number; body: string }) => void };

  constructor(
    private readonly port: number,
    private readonly timeoutMs = 60_000,
  ) {}

  get(p: string): Promise<{ status: number; body: string }> {
    if (!this.socket || this.socket.destroyed) this.connect();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.fail('timeout'), this.timeoutMs);
      this.pending = {
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      this.socket!.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n\r\n`);
    });
  }

  close() {
    this.socket?.destroy();
  }

  private connect() {
    this.buf = Buffer.alloc(0);
    const s = net.connect(this.port, '127.0.0.1');
    s.setNoDelay(true);
    s.on('data', (d) => this.onData(d));
    s.on('error', (e) => this.fail(String(e)));
    s.on('close', () => this.fail('connection closed'));
    this.socket = s;
  }

  private fail(why: string) {
    const p = this.pending;
    this.pending = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    p?.resolve({ status: 0, body: why });
  }

  private onData(d: Buffer) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + len) return;
    const body = this.buf.toString('utf8', end + 4, end + 4 + len);
    this.buf = this.buf.subarray(end + 4 + len);
    const status = Number(head.slice(9, 12));
    const closing = /\r\nconnection:\s*close/i.test(head);
    const p = this.pending;
    this.pending = undefined;
    if (closing) {
      this.socket?.removeAllListeners('close');
      this.socket?.destroy();
      this.socket = undefined;
    }
    p?.resolve({ status, body: body.trim() });
  }
}

/** GET /cgi-bin/sendsms for message i; resolves to the HTTP status and Kannel's answer. */
function sendsms(
  conn: Conn,
  dlr: DlrReceiver,
  i: number,
  to: string,
): Promise<{ status: number; body: string }> {
  const q = new URLSearchParams({
    username: SENDSMS_USER.username,
    password: SENDSMS_USER.password,
    from: SENDER,
    to,
    text: bodyOf(i),
    'dlr-mask': '3',
    'dlr-url': dlr.url(i),
  });
  return conn.get(`/cgi-bin/sendsms?${q}`);
}

interface Measured {
  rate: number;
  busyUs: number;
  cpu: string;
  ok: boolean;
  note: string;
}

/**
 * Host busy time per message that none of the listed processes used (`host busy` minus the sum of
 * the parts): the kernel's own work, and whatever else ran on the (shared) host meanwhile.
 */
function otherUs(cpu: string): number {
  const busy = Number(/host busy (-?\d+) µs/.exec(cpu)?.[1]);
  let sum = 0;
  for (const m of cpu.split('; host busy')[0].matchAll(/(?:^|, )([^,]+?) (-?\d+) µs/g)) sum += Number(m[2]);
  return busy - sum;
}

/**
 * The system's own CPU per message from a CPU line (`name N µs, ...; host busy N µs`): every
 * process but the load generator (`bench`) and the carrier (`simulator`). For Parley that includes
 * PostgreSQL, Kafka and Redis (it needs them; their figures are by process name over the whole host),
 * for Kannel it is bearerbox + smsbox (it uses none of them).
 */
function ownUs(cpu: string, system: 'kannel' | 'parley'): number {
  let sum = NaN;
  for (const m of cpu.split('; host busy')[0].matchAll(/(?:^|, )([^,]+?) (-?\d+) µs/g)) {
    if (m[1] === 'bench' || m[1] === 'simulator') continue;
    if (system === 'kannel' && m[1] !== 'bearerbox' && m[1] !== 'smsbox') continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(m[2]);
  }
  return sum;
}

async function kannelRun(run: number): Promise<Measured> {
  const carriers = benchCarriers({ alpha: HIGH, beta: HIGH });
  const smpp = carriers.connectors[0];
  carriers.connectors.push({ ...smpp, id: 'kannel', ...KANNEL_ACCOUNT });
  let sim: SimProc | undefined;
  let kannel: Kannel | undefined;
  const dlr = new DlrReceiver();
  const conns: Conn[] = [];
  let failed = true;
  try {
    sim = trackSim(await startSimProcess(carriers, SCENARIO));
    await dlr.start();
    kannel = await startKannel(
      sim.carriers.connectors[0].kind === 'smpp' ? sim.carriers.connectors[0].port : 0,
    );
    log(
      `kannel run ${run}: bearerbox ${kannel.bearerbox.pid} + smsbox ${kannel.smsbox.pid} bound to the simulator (${sim.pid}); config and logs in ${kannel.dir}`,
    );

    // The path works end to end before timing starts: one message and its delivered DLR.
    dlr.reset(N + 1);
    for (let c = 0; c < CONCURRENCY; c++) conns.push(new Conn(kannel.sendsmsPort));
    const warm = await sendsms(conns[0], dlr, N, numberAt('+1202', N + 1));
    if (warm.status < 200 || warm.status >= 300)
      throw new Error(`warm-up sendsms → ${warm.status} ${warm.body}`);
    if (!(await dlr.waitAll(1, 30_000)))
      throw new Error(
        `warm-up: no delivered DLR in 30 s (sendsms said ${warm.status} ${warm.body}); DLRs otherwise ${JSON.stringify(dlr.otherTypes)}`,
      );
    await sim.reset();
    dlr.reset(N);

    log(`kannel run ${run}: sending ${fmt(N)} messages, one per sendsms request, ${CONCURRENCY} at once`);
    const meter = new CpuMeter({
      bearerbox: kannel.bearerbox.pid,
      smsbox: kannel.smsbox.pid,
      simulator: sim.pid,
      bench: 'self',
    });
    const t0 = now();
    let next = 0;
    let accepted = 0;
    const refused: Record<string, number> = {};
    const worker = async (conn: Conn) => {
      while (next < N) {
        const i = next++;
        const r = await sendsms(conn, dlr, i, numberAt(i % 2 ? '+1303' : '+1202', i));
        if (r.status >= 200 && r.status < 300) accepted++;
        else {
          const key = `${r.status} ${r.body.slice(0, 80)}`;
          refused[key] = (refused[key] ?? 0) + 1;
        }
      }
    };
    const progress = setInterval(
      () => log(`  sendsms answered ${fmt(accepted)}, delivered DLRs ${fmt(dlr.count)}`),
      5_000,
    );
    let all = false;
    try {
      await Promise.all(conns.map(worker));
      const tAccepted = now();
      log(
        `kannel run ${run}: sendsms accepted ${fmt(accepted)} in ${((tAccepted - t0) / 1000).toFixed(1)} s (${fmt((accepted * 1000) / (tAccepted - t0))}/s)${Object.keys(refused).length ? `; refused ${JSON.stringify(refused)}` : ''}`,
      );
      all = await dlr.waitAll(accepted, Math.max(120_000, N * 10));
    } finally {
      clearInterval(progress);
    }
    const tEnd = all ? dlr.lastAt : now();
    const secs = (tEnd - t0) / 1000;
    const rate = dlr.count / secs;
    const cpu = meter.perMessage(Math.max(1, dlr.count));
    const st = await sim.stats();
    const errs = kannelLogErrors(kannel);
    const ok = all && accepted === N && dlr.count === N;
    log(`kannel run ${run}: CPU per message: ${cpu.parts}`);
    log(
      `kannel run ${run}: delivered DLRs ${fmt(dlr.count)}/${fmt(N)}${dlr.other ? ` (other DLRs ${JSON.stringify(dlr.otherTypes)})` : ''}; ${secs.toFixed(1)} s → ${fmt(rate)} msgs/s first sendsms to last DLR`,
    );
    log(
      `kannel run ${run}: simulator: accepted ${st.accepted}, throttled ${st.throttled}, errors ${st.errors}, receipts ${st.receipts_sent}; Kannel log errors ${errs.count}`,
    );
    for (const l of errs.first) log(`  ${l}`);
    details.push(
      `kannel run ${run}: ${fmt(N)} sendsms requests (${CONCURRENCY} at once), ${fmt(accepted)} accepted; ${fmt(dlr.count)} delivered DLRs, the last after ${secs.toFixed(1)} s: **${fmt(rate)} msgs/s**${ok ? '' : ' (INCOMPLETE)'}; simulator accepted ${st.accepted}, throttled ${st.throttled}; Kannel log errors ${errs.count}`,
      `kannel run ${run}, CPU per message (first sendsms to last DLR): ${cpu.parts}`,
    );
    if (!ok) log(`kannel run ${run}: incomplete; Kannel's config and logs: ${kannel.dir}`);
    failed = !ok;
    return {
      rate,
      busyUs: cpu.busyUs,
      cpu: cpu.parts,
      ok,
      note: `${CONCURRENCY} sendsms in flight; log errors ${errs.count}${ok ? '' : `; incomplete (${dlr.count}/${N} DLRs)`}`,
    };
  } catch (err) {
    if (kannel) log(`kannel run ${run} failed; Kannel's config and logs: ${kannel.dir}`);
    throw err;
  } finally {
    for (const c of conns) c.close();
    await kannel?.stop();
    await dlr.stop();
    await sim?.stop();
    if (kannel && !failed && !values['keep-logs']) rmSync(kannel.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------ Parley

/**
 * The database Parley's runs use: a bench database of their own (BENCH_DATABASE_URL overrides it),
 * dropped before each run and at the end, so every run starts from an empty `messages` table (rows
 * left by earlier runs slow later ones) and no other bench's database is touched.
 */
const PARLEY_DB_OWN = !process.env.BENCH_DATABASE_URL;
const PARLEY_DB = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley_bench_kannel';
function dropParleyDb() {
  if (!PARLEY_DB_OWN) return;
  const admin = new URL(PARLEY_DB);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  execFileSync(
    'psql',
    [
      admin.toString(),
      '-q',
      '-c',
      'set client_min_messages = warning',
      '-c',
      `drop database if exists "${name}" with (force)`,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

/** The send bench's end-to-end part as a child; its figures parsed from its output. */
async function parleyRun(run: number): Promise<Measured> {
  try {
    return await parleyAttempt(run);
  } catch (err) {
    // The harness picks its engine and simulator ports from a counter without looking; another
    // bench on the host may hold one. Once more, on other ports.
    if (!/EADDRINUSE/.test(String(err))) throw err;
    log(`parley run ${run}: a port the send bench picked was taken (EADDRINUSE); once more`);
    return parleyAttempt(run);
  }
}

async function parleyAttempt(run: number): Promise<Measured> {
  if (!existsSync(SEND_BENCH)) throw new Error(`${SEND_BENCH} missing: npx tsc -p tsconfig.build.json first`);
  const args = [SEND_BENCH, '--skip-caps', '--skip-raw', '--n', String(N)];
  dropParleyDb();
  log(
    `parley run ${run}: (cd ${PARLEY_ROOT} && BENCH_DATABASE_URL=${PARLEY_DB} node ${path.relative(PARLEY_ROOT, SEND_BENCH)} ${args.slice(1).join(' ')})${PARLEY_DB_OWN ? ', database dropped first' : ''}`,
  );
  // Its own process group: the engines and the simulator it starts go with it if this bench dies.
  const child = spawn(process.execPath, args, {
    cwd: PARLEY_ROOT,
    env: { ...process.env, BENCH_DATABASE_URL: PARLEY_DB },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  track(child, 'send bench', true);
  const lines: string[] = [];
  // Whole lines only: a chunk may end in the middle of one.
  const reader = () => {
    let carry = '';
    const take = (line: string) => {
      if (!line.trim()) return;
      lines.push(line);
      if (!line.startsWith('BENCH_RESULT')) console.log(`  [parley] ${line}`);
    };
    return {
      data: (b: Buffer) => {
        const parts = (carry + b.toString()).split('\n');
        carry = parts.pop() ?? '';
        parts.forEach(take);
      },
      end: () => take(carry),
    };
  };
  const out = reader();
  const err = reader();
  child.stdout!.on('data', out.data);
  child.stderr!.on('data', err.data);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  out.end();
  err.end();
  const text = lines.join('\n');
  const rate = text.match(/→ ([\d,.]+) msgs\/s end to end/);
  const cpu = text.match(/CPU per message: (.*)$/m);
  const busy = cpu?.[1].match(/host busy (\d+) µs/);
  const terminal = /all terminal: true/.test(text);
  if (!rate)
    throw new Error(
      `parley run ${run}: the send bench (exit ${code}) printed no end-to-end rate${/EADDRINUSE/.test(text) ? ' (EADDRINUSE)' : ''}`,
    );
  const r = Number(rate[1].replace(/,/g, ''));
  details.push(
    `parley run ${run} (send bench end to end, exit ${code}): **${fmt(r)} msgs/s**${terminal ? '' : ' (NOT all terminal)'}`,
    `parley run ${run}, CPU per message (accept to receipt persisted): ${cpu?.[1] ?? '-'}`,
  );
  return {
    rate: r,
    busyUs: busy ? Number(busy[1]) : NaN,
    cpu: cpu?.[1] ?? '-',
    ok: terminal,
    note: `send bench exit ${code}`,
  };
}

// ------------------------------------------------------------------------------------ main

async function main() {
  const version = ensureKannel();
  log(
    `Kannel ${version}; ${fmt(N)} messages a run, ${RUNS} run(s)${values['skip-parley'] ? ', Kannel only' : `, alternating with Parley (the send bench in ${PARLEY_ROOT})`}`,
  );
  details.push(
    `Kannel ${version} (Debian): one SMPP transceiver bind, max-pending-submits 100, no throughput limit, store-type file, internal DLR storage, dlr-mask 3 with a dlr-url per message, sendsms one message per request, ${CONCURRENCY} requests in flight (keep-alive), log-level 2, no access log`,
  );
  const results: { run: number; system: 'kannel' | 'parley'; m?: Measured; err?: string }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const system of values['skip-parley'] ? (['kannel'] as const) : (['kannel', 'parley'] as const)) {
      try {
        const before = neighbours(`${system} run ${run}, before`);
        const m = system === 'kannel' ? await kannelRun(run) : await parleyRun(run);
        const after = neighbours(`${system} run ${run}, after`);
        if (before || after) m.note += `; ${before || after} alongside`;
        results.push({ run, system, m });
      } catch (err) {
        log(`${system} run ${run} failed:`, err);
        results.push({ run, system, err: String(err).slice(0, 300) });
      }
      await sleep(2_000);
    }
  }

  // The table, and Parley / Kannel per pair.
  const ratios: number[] = [];
  console.log('\n| run | system | msg/s | host CPU µs/msg | own CPU µs/msg | other µs/msg | Parley/Kannel |');
  console.log('|---|---|---|---|---|---|---|');
  for (let run = 1; run <= RUNS; run++) {
    const k = results.find((r) => r.run === run && r.system === 'kannel');
    const p = results.find((r) => r.run === run && r.system === 'parley');
    const ratio = k?.m?.ok && p?.m?.ok ? p.m.rate / k.m.rate : NaN;
    if (Number.isFinite(ratio)) ratios.push(ratio);
    for (const r of [k, p]) {
      if (!r) continue;
      const rate = r.m ? `${fmt(r.m.rate)}${r.m.ok ? '' : ' (incomplete)'}` : 'failed';
      const us = r.m && Number.isFinite(r.m.busyUs) ? String(r.m.busyUs) : '-';
      const own = r.m ? ownUs(r.m.cpu, r.system) : NaN;
      const ownText = Number.isFinite(own) ? String(own) : '-';
      const other = r.m ? otherUs(r.m.cpu) : NaN;
      const otherText = Number.isFinite(other) ? String(other) : '-';
      console.log(
        `| ${run} | ${r.system} | ${rate} | ${us} | ${ownText} | ${otherText} | ${r.system === 'parley' && Number.isFinite(ratio) ? ratio.toFixed(2) : ''} |`,
      );
      rows.push({
        scenario: `kannel: ${r.system}`,
        size: SIZE,
        rate: r.m ? `${fmt(r.m.rate)} msg/s` : '-',
        target: 'same-run baseline',
        verdict: r.m?.ok ? 'info' : 'FAIL',
        notes: [
          `run ${run}`,
          r.m && Number.isFinite(r.m.busyUs) ? `host ${r.m.busyUs} µs/msg` : '',
          Number.isFinite(own) ? `own ${own} µs/msg` : '',
          Number.isFinite(other) ? `other ${other} µs/msg` : '',
          r.system === 'parley' && Number.isFinite(ratio) ? `${ratio.toFixed(2)} of Kannel` : '',
          r.m?.note ?? r.err ?? '',
        ]
          .filter(Boolean)
          .join('; '),
      });
    }
  }
  if (!values['skip-parley']) {
    try {
      dropParleyDb();
    } catch (err) {
      log(`could not drop ${PARLEY_DB}: ${err}`);
    }
  }
  if (ratios.length) {
    const line = `Parley / Kannel: ${ratios.map((r) => r.toFixed(2)).join(', ')} (min–max ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
    console.log(`\n${line}`);
    details.push(line);
  }
  emitResults('kannel', rows, details);
}

runScenario(main, rows);
