// `parley bench` (`npm run bench [-- --full] [--only send,campaign]`): runs the load-test scenarios
// from the build (node dist/load-tests/<scenario>/bench.js), each in its own process, small sizes
// by default and the issues' sizes with --full; prints one table (scenario, size, rate, target,
// verdict) and writes a dated entry per scenario into load-tests/RESULTS.md with the machine and
// the command. A benchmark prints figures; it is never part of `npm test`.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliCommand, UsageError, options } from './command';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(ROOT, 'load-tests', 'RESULTS.md');
export const SCENARIOS = ['import', 'send', 'campaign', 'replies', 'scale', 'chaos'] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Row {
  scenario: string;
  size: string;
  rate: string;
  target: string;
  verdict: string;
  notes?: string;
}
interface Outcome {
  scenario: Scenario;
  rows: Row[];
  details: string[];
  command: string;
  exitCode: number | null;
  seconds: number;
  machine: string;
}

/** Each scenario's script and its arguments at the small and the full size. */
function argsFor(s: Scenario, full: boolean): string[] {
  switch (s) {
    case 'import':
      return ['--rows', full ? '1000000' : '20000'];
    case 'send':
    case 'campaign':
    case 'replies':
    case 'scale':
    case 'chaos':
      return full ? ['--full'] : [];
  }
}

function machine(): string {
  const gib = Math.round(os.totalmem() / 2 ** 30);
  return `${os.cpus().length} cores, ${gib} GiB, Node ${process.version}, Kafka/PostgreSQL/Redis/simulator on the same host; load average at start ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`;
}

async function runScenario(s: Scenario, args: string[], timeoutMs: number): Promise<Outcome> {
  const script = path.join(ROOT, 'dist', 'load-tests', s, 'bench.js');
  const command = `node dist/load-tests/${s}/bench.js ${args.join(' ')}`.trim();
  const started = Date.now();
  const m = machine();
  if (!existsSync(script)) {
    return {
      scenario: s,
      rows: [
        {
          scenario: s,
          size: '-',
          rate: '-',
          target: '-',
          verdict: 'not run',
          notes: `${path.relative(ROOT, script)} missing`,
        },
      ],
      details: [],
      command,
      exitCode: null,
      seconds: 0,
      machine: m,
    };
  }
  console.log(`\n=== ${s}: ${command}`);
  const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let result: { rows: Row[]; details: string[] } | undefined;
  const lines: string[] = [];
  const onLine = (line: string, err: boolean) => {
    if (line.startsWith('BENCH_RESULT ')) {
      try {
        result = JSON.parse(line.slice('BENCH_RESULT '.length));
      } catch {
        /* reported below as missing */
      }
      return;
    }
    lines.push(line);
    (err ? process.stderr : process.stdout).write(`  ${line}\n`);
  };
  const split = (err: boolean) => {
    let buf = '';
    return (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const p of parts) onLine(p, err);
    };
  };
  child.stdout.on('data', split(false));
  child.stderr.on('data', split(true));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  const exitCode = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  clearTimeout(timer);
  const seconds = (Date.now() - started) / 1000;
  if (!result && s === 'import') result = importResult(lines, args, exitCode);
  if (!result)
    result = {
      rows: [
        {
          scenario: s,
          size: '-',
          rate: '-',
          target: '-',
          verdict: 'FAIL',
          notes: `exit ${exitCode}; no result line (${lines.slice(-1)[0]?.slice(0, 120) ?? ''})`,
        },
      ],
      details: lines.slice(-5),
    };
  return { scenario: s, rows: result.rows, details: result.details, command, exitCode, seconds, machine: m };
}

/** The import benchmark (owned by audiences) prints plain lines; read its figures from them. */
function importResult(
  lines: string[],
  args: string[],
  exitCode: number | null,
): { rows: Row[]; details: string[] } {
  const text = lines.join('\n');
  const rate = /: ([\d,]+) rows\/s/.exec(text)?.[1];
  const copy = /our rate is ([\d.]+) of COPY/.exec(text)?.[1];
  const rows = args[args.indexOf('--rows') + 1] ?? '?';
  return {
    rows: [
      {
        scenario: 'import',
        size: `${Number(rows).toLocaleString('en-US')} rows`,
        rate: rate ? `${rate} rows/s` : '-',
        target: 'see issue',
        verdict: exitCode === 0 && rate ? 'info' : 'FAIL',
        notes: copy ? `${copy} of psql \\copy` : `exit ${exitCode}`,
      },
    ],
    details: lines.filter((l) => /rows|import|COPY|RSS/.test(l)).slice(-8),
  };
}

function table(rows: Row[]): string {
  const head = ['scenario', 'size', 'rate', 'target', 'verdict'];
  const data = rows.map((r) => [r.scenario, r.size, r.rate, r.target, r.verdict]);
  const widths = head.map((h, i) => Math.max(h.length, ...data.map((d) => d[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...data.map(line)].join('\n');
}

const HEADINGS: Record<Scenario, string> = {
  import: '## import (as run by `npm run bench`)',
  send: '## send',
  campaign: '## campaign',
  replies: '## replies',
  scale: '## scale',
  chaos: '## chaos',
};

/** Inserts a dated entry at the top of the scenario's `## ` section (kept: the 5 newest). */
export function updateResults(markdown: string, o: Outcome, full: boolean, invocation: string): string {
  const heading = HEADINGS[o.scenario];
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const entry = [
    `### ${date} — ${full ? 'full' : 'small'} size`,
    '',
    `- machine: ${o.machine}`,
    `- command: \`${invocation}\` → \`${o.command}\` (${o.seconds.toFixed(0)} s, exit ${o.exitCode})`,
    '',
    '| scenario | size | rate | target | verdict | notes |',
    '|---|---|---|---|---|---|',
    ...o.rows.map(
      (r) =>
        `| ${[r.scenario, r.size, r.rate, r.target, r.verdict, r.notes ?? ''].map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`,
    ),
    '',
    ...o.details.map((d) => `- ${d}`),
    '',
  ].join('\n');
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) return `${markdown.replace(/\n*$/, '\n')}\n${heading}\n\n${entry}`;
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end < 0) end = lines.length;
  const body = lines.slice(start + 1, end).join('\n');
  const firstEntry = body.indexOf('\n### ');
  const intro = firstEntry >= 0 ? body.slice(0, firstEntry) : body.replace(/\n+$/, '');
  const entries = firstEntry >= 0 ? body.slice(firstEntry + 1).split(/\n(?=### )/) : [];
  const kept = [entry, ...entries.map((e) => e.replace(/\n+$/, '\n'))].slice(0, 5);
  // The intro may start on the heading's next line: it stays on a line of its own.
  const text = intro.replace(/^\n+/, '').replace(/\n+$/, '');
  const section = [heading, ...(text ? [text, ''] : ['']), ...kept].join('\n').replace(/\n{3,}/g, '\n\n');
  return [...lines.slice(0, start), section.replace(/\n+$/, '\n'), ...lines.slice(end)].join('\n');
}

export const benchCommand: CliCommand = {
  name: 'bench',
  summary:
    "Run the load-test scenarios (small sizes; --full for the issues' sizes); print a table, update load-tests/RESULTS.md.",
  usage: `[--full] [--only ${SCENARIOS.join(',')}] [--no-results]`,
  async run(args) {
    const { values } = options(args, {
      full: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-results': { type: 'boolean', default: false },
    });
    const wanted = (
      values.only
        ? values.only
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [...SCENARIOS]
    ) as Scenario[];
    for (const w of wanted)
      if (!SCENARIOS.includes(w))
        throw new UsageError(`--only: unknown scenario "${w}" (one of ${SCENARIOS.join(', ')})`);
    const invocation = `npm run bench -- ${args.join(' ')}`.trim().replace(/ --$/, '');
    const full = values.full === true;
    const outcomes: Outcome[] = [];
    for (const s of SCENARIOS.filter((x) => wanted.includes(x))) {
      if (s === 'import' && !existsSync(path.join(ROOT, 'load-tests', 'import'))) continue;
      const timeout = (full ? 180 : s === 'chaos' ? 55 : 30) * 60_000;
      const o = await runScenario(s, argsFor(s, full), timeout);
      outcomes.push(o);
      if (!values['no-results'] && o.exitCode !== null) {
        writeFileSync(
          RESULTS,
          updateResults(
            existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '# Benchmark results\n',
            o,
            full,
            invocation,
          ),
        );
      }
    }
    const rows = outcomes.flatMap((o) => o.rows);
    console.log(`\n${table(rows)}\n`);
    if (!values['no-results'])
      console.log(`figures written to ${path.relative(process.cwd(), RESULTS) || RESULTS}`);
    return rows.some((r) => r.verdict === 'FAIL') ? 1 : 0;
  },
};
