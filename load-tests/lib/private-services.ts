// A Redis server and a PostgreSQL cluster of the chaos suite's own, on their own ports and data
// directories under .cache/, so the Redis and PostgreSQL restart scenarios restart a real server
// without touching the services everything else on the machine uses.
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** Whether something listens on 127.0.0.1:`port` (a second's patience). */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
  });
}

async function waitPort(port: number, open: boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await portOpen(port)) === open) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The command line that runs `cmd` as `asUser` (root running the PostgreSQL tools as postgres). */
function asUserCommand(cmd: string, args: string[], asUser?: string): [string, string[]] {
  return asUser ? ['runuser', ['-u', asUser, '--', cmd, ...args]] : [cmd, args];
}

/**
 * `run`, without blocking the event loop: what runs during a scenario. The chaos bench's carrier
 * simulator shares this process, and a blocking `pg_ctl restart -w` froze its clock for the
 * restart's second, and the submits queued meanwhile were counted as one burst.
 */
async function runAsync(cmd: string, args: string[], asUser?: string): Promise<string> {
  const [c, a] = asUserCommand(cmd, args, asUser);
  return new Promise((resolve, reject) =>
    execFile(c, a, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      const out = `${stdout ?? ''}${stderr ?? ''}`.trim();
      if (err)
        reject(
          new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.message}): ${out.slice(0, 500)}`),
        );
      else resolve(out);
    }),
  );
}

function run(cmd: string, args: string[], asUser?: string): string {
  const [c, a] = asUserCommand(cmd, args, asUser);
  const r = spawnSync(c, a, { encoding: 'utf8', timeout: 120_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${out.slice(0, 500)}`);
  return out;
}

export interface PrivateService {
  url: string;
  /** Stops the server the way the scenario says, then starts it again; returns what happened. */
  restart(): Promise<string>;
  stop(): Promise<void>;
}

/** redis-server on `port`, no persistence (a restart loses every key, as `shutdown nosave` does). */
export async function startPrivateRedis(root: string, port = 16379): Promise<PrivateService> {
  const dir = path.join(root, '.cache', `redis-${port}`);
  mkdirSync(dir, { recursive: true });
  const start = async () => {
    await runAsync('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
      '--dir',
      dir,
      '--pidfile',
      path.join(dir, 'redis.pid'),
      '--logfile',
      path.join(dir, 'redis.log'),
    ]);
    if (!(await waitPort(port, true, 20_000))) throw new Error(`private redis did not answer on ${port}`);
  };
  const shutdown = async () => {
    await runAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'shutdown', 'nosave']).catch(
      () => '',
    );
    await waitPort(port, false, 10_000);
  };
  if (await portOpen(port)) await shutdown();
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      const t0 = Date.now();
      await shutdown();
      await new Promise((r) => setTimeout(r, 2_000));
      await start();
      return `redis on ${port} shut down (nosave, every key lost) and started again after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    },
    stop: shutdown,
  };
}

function pgBin(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error(`no PostgreSQL server binaries under ${base}`);
  return path.join(base, versions[0], 'bin');
}

/** A fresh PostgreSQL cluster (initdb) on `port`, trust auth, database `parley_chaos`. As root the
 *  server runs as the `postgres` user, which owns the data directory. */
export async function startPrivatePostgres(root: string, port = 15432): Promise<PrivateService> {
  const bin = pgBin();
  const dir = path.join(root, '.cache', `pg-${port}`);
  const asUser = process.getuid?.() === 0 ? 'postgres' : undefined;
  const pgctl = (args: string[]) => run(path.join(bin, 'pg_ctl'), ['-D', dir, ...args], asUser);
  const pgctlAsync = (args: string[]) => runAsync(path.join(bin, 'pg_ctl'), ['-D', dir, ...args], asUser);
  if (existsSync(path.join(dir, 'postmaster.pid'))) {
    try {
      pgctl(['stop', '-m', 'immediate', '-w']);
    } catch {
      /* a stale pid file */
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (asUser) {
    const uid = Number(run('id', ['-u', asUser]));
    const gid = Number(run('id', ['-g', asUser]));
    chownSync(dir, uid, gid);
  }
  run(
    path.join(bin, 'initdb'),
    ['-D', dir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'],
    asUser,
  );
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c max_connections=200 -c fsync=off`;
  const start = async () => {
    pgctl(['start', '-w', '-t', '60', '-l', path.join(dir, 'server.log'), '-o', opts]);
    if (!(await waitPort(port, true, 30_000))) throw new Error(`private postgres did not answer on ${port}`);
  };
  await start();
  run('psql', [`postgres://postgres@127.0.0.1:${port}/postgres`, '-qc', 'create database parley_chaos']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/parley_chaos`,
    async restart() {
      const t0 = Date.now();
      await pgctlAsync([
        'restart',
        '-m',
        'fast',
        '-w',
        '-t',
        '60',
        '-l',
        path.join(dir, 'server.log'),
        '-o',
        opts,
      ]);
      const up = await waitPort(port, true, 30_000);
      return `postgres on ${port} restarted (pg_ctl restart -m fast): ${up ? 'up' : 'NOT UP'} after ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    },
    async stop() {
      try {
        pgctl(['stop', '-m', 'fast', '-w']);
      } catch {
        /* already down */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
