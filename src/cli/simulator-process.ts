// `parley simulate` as a child process, read and reset over its HTTP API. The demo and the cap
// bench run the carrier simulator this way, as a carrier has its own machines: in the process of
// the engine (or of a load generator) its one-second windows were counted on a clock that stalls
// whenever that process is busy, and submits that left within the caps arrived bunched.
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SimulatedMessage, SimulatedOffer, SimulatorStats } from '../simulator/carrier-simulator';

export interface SimulatorProcess {
  httpUrl: string;
  /** The child's process id (benchmarks read its CPU time). */
  pid: number;
  stats(): Promise<SimulatorStats>;
  reset(): Promise<void>;
  /** Every message taken since the last reset, in order (the simulator must keep a journal). */
  journal(): Promise<SimulatedMessage[]>;
  /** Every submit the carrier windows counted since the last reset, taken or throttled, in order. */
  offers(): Promise<SimulatedOffer[]>;
  /** Sends a customer's message (SMPP MO) to the bound `systemId`; resolves to its MO id. */
  sendMo(systemId: string, m: { from: string; to: string; text: string }): Promise<string>;
  stop(): Promise<void>;
}

export interface SimulatorProcessOptions {
  /** The scenario (as `POST /scenario` takes it). */
  scenario: unknown;
  smppPort: number;
  httpPort: number;
  /** A carriers file; by default the simulator's (PARLEY_CARRIERS_FILE or the built-in setup). */
  carriersFile?: string;
  /** Scheduling priority to ask for (negative: ahead of the rest); ignored where not permitted. */
  nice?: number;
  /** Keep every message taken, for `journal()` (GET /journal). */
  journal?: boolean;
}

/** The last 30 lines a child process wrote (stdout and stderr), each also handed to `echo`. */
export function keepTail(proc: ChildProcess, echo?: (line: string) => void): string[] {
  const tail: string[] = [];
  const keep = (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      echo?.(line);
    }
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return tail;
}

/** Starts the simulator and resolves once it answers on HTTP (rejects, with its output, if not). */
export async function spawnSimulator(o: SimulatorProcessOptions): Promise<SimulatorProcess> {
  const scenarioFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'parley-sim-')), 'scenario.json');
  writeFileSync(scenarioFile, JSON.stringify(o.scenario));
  const args = ['simulate', '--smpp-port', String(o.smppPort), '--http-port', String(o.httpPort)];
  if (o.carriersFile) args.push('--carriers-file', o.carriersFile);
  args.push('--scenario', scenarioFile);
  if (o.journal) args.push('--journal');
  const proc = spawn(process.execPath, [path.join(__dirname, '..', 'cli.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (o.nice) {
    try {
      os.setPriority(proc.pid!, o.nice);
    } catch {
      // Not permitted: it runs at normal priority.
    }
  }
  const tail = keepTail(proc);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const httpUrl = `http://127.0.0.1:${o.httpPort}`;
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode) return;
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const call = async (method: 'GET' | 'POST', route: string, body?: unknown) => {
    const res = await fetch(`${httpUrl}${route}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    if (!res.ok) throw new Error(`simulator ${method} ${route}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const journal = async <T>(kind: 'messages' | 'offers'): Promise<T[]> => {
    const out: T[] = [];
    for (;;) {
      const page = (await call('GET', `/journal?kind=${kind}&from=${out.length}&limit=20000`)) as {
        enabled: boolean;
      } & Record<string, T[]>;
      if (!page.enabled) throw new Error('the simulator keeps no journal (start it with journal: true)');
      out.push(...page[kind]);
      if (page[kind].length < 20_000) return out;
    }
  };
  for (let waited = 0; ; waited += 200) {
    const why =
      proc.exitCode !== null
        ? `exited (code ${proc.exitCode})`
        : waited >= 30_000
          ? 'did not answer within 30 s'
          : undefined;
    if (why) {
      await stop();
      throw new Error(`the carrier simulator ${why}:\n${tail.join('\n')}`);
    }
    if (
      await fetch(`${httpUrl}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    httpUrl,
    pid: proc.pid!,
    stop,
    stats: () => call('GET', '/stats') as Promise<SimulatorStats>,
    reset: async () => void (await call('POST', '/reset')),
    journal: () => journal<SimulatedMessage>('messages'),
    offers: () => journal<SimulatedOffer>('offers'),
    sendMo: async (systemId, m) =>
      ((await call('POST', '/mo', { system_id: systemId, ...m })) as { id: string }).id,
  };
}
