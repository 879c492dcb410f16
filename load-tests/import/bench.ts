// Import benchmark: generates N contacts (about 1% invalid, 1% duplicates, numbers from several
// countries in the formats CRMs export), imports them end to end through the API of a real engine
// process, and times a plain psql \copy of the same file into a bare table for comparison.
//
//   npm run build && node dist/load-tests/import/bench.js --rows 1000000
//   options: --rows N  --url http://… --key … (use a running engine instead of starting one)
//            --consent 0.2 (share of rows carrying opted_in_at/consent_source)  --keep (keep the file,
//            and reuse it next time)
//            --cpu-prof DIR (the engine writes a V8 CPU profile there when it stops)
//   BENCH_LOG_LEVEL=debug shows the engine's per-batch timings (`import batch`).
// It uses the bench database (BENCH_DATABASE_URL, default parley_bench), prints its figures, then
// the BENCH_RESULT line `npm run bench` collects.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { normalizePhone } from '../../src/modules/carriers/phone-number';
import { mulberry32 } from '../../src/cli/demo-contacts';
import {
  BENCH_DATABASE_URL,
  MAIN_JS,
  benchDb,
  cpuSecondsOf,
  createWorkspace,
  emitResults,
  fmt,
} from '../lib/harness';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    url: { type: 'string' },
    key: { type: 'string' },
    consent: { type: 'string', default: '0.2' },
    database: {
      type: 'string',
      default: BENCH_DATABASE_URL,
    },
    port: { type: 'string', default: '3917' },
    keep: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const ROWS = Number(values.rows);
const CONSENT = Number(values.consent);

// A seeded generator so every run imports the same file.
const rand = mulberry32(42);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');

// Mobile ranges per country, written the ways exports write them (national with trunk prefix,
// international, E.164). `country` is set on the row when the format needs it.
const COUNTRIES: { country: string; weight: number; make: () => { phone: string; country: string } }[] = [
  {
    country: 'US',
    weight: 40,
    make: () => {
      const n = `${pick(['201', '212', '310', '415', '512', '617', '702', '917'])}${2 + Math.floor(rand() * 8)}${digits(6)}`;
      return pick([
        { phone: `(${n.slice(0, 3)}) ${n.slice(3, 6)}-${n.slice(6)}`, country: '' },
        { phone: `+1${n}`, country: '' },
        { phone: `1-${n.slice(0, 3)}-${n.slice(3, 6)}-${n.slice(6)}`, country: '' },
      ]);
    },
  },
  {
    country: 'GB',
    weight: 15,
    make: () => {
      const n = `7${pick(['400', '700', '800', '900'])}${digits(6)}`;
      return pick([
        { phone: `0${n.slice(0, 4)} ${n.slice(4)}`, country: 'GB' },
        { phone: `+44 ${n}`, country: '' },
      ]);
    },
  },
  {
    country: 'DE',
    weight: 10,
    make: () => {
      const n = `15${pick(['1', '2', '7'])}${digits(8)}`;
      return pick([
        { phone: `0${n}`, country: 'DE' },
        { phone: `+49${n}`, country: '' },
      ]);
    },
  },
  {
    country: 'FR',
    weight: 10,
    make: () => {
      const n = `${pick(['6', '7'])}${digits(8)}`;
      return pick([
        { phone: `0${n.replace(/(\d)(\d\d)(\d\d)(\d\d)(\d\d)/, '$1 $2 $3 $4 $5')}`, country: 'FR' },
        { phone: `0033${n}`, country: 'FR' },
      ]);
    },
  },
  {
    country: 'IN',
    weight: 10,
    make: () => ({ phone: `+91 ${pick(['9', '8', '7'])}${digits(9)}`, country: '' }),
  },
  { country: 'BR', weight: 8, make: () => ({ phone: `+55 11 9${digits(8)}`, country: '' }) },
  { country: 'MX', weight: 7, make: () => ({ phone: `+52 1 55 ${digits(8)}`, country: '' }) },
];
const WEIGHTED = COUNTRIES.flatMap((c) => Array(c.weight).fill(c));
const INVALID = ['12345', 'n/a', '+999 123 456', '555', '(000) 000-0000', '+44 12', 'call me'];
const FIRST = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Eve', 'Farah', 'Guo', 'Hugo', 'Ines', 'José'];
const LAST = ['Lee', 'Martin', 'Müller', 'Singh', 'Silva', 'García', 'Smith', 'Dubois'];
const TIERS = ['gold', 'silver', 'bronze', 'none'];

async function generate(file: string) {
  const out = createWriteStream(file);
  out.write('phone,country,first_name,last_name,email,tier,visits,opted_in_at,consent_source\n');
  const seen = new Set<string>();
  const earlier: string[] = [];
  let invalid = 0;
  let duplicates = 0;
  let buf = '';
  for (let i = 0; i < ROWS; i++) {
    let phone: string;
    let country = '';
    const r = rand();
    if (r < 0.01) {
      phone = pick(INVALID);
      invalid++;
    } else if (r < 0.02 && earlier.length) {
      phone = pick(earlier);
      duplicates++;
    } else {
      while (true) {
        const c = pick(WEIGHTED).make();
        const n = normalizePhone(c.phone, undefined, { country: c.country || 'US' });
        if (n.ok && !seen.has(n.e164)) {
          seen.add(n.e164);
          phone = c.phone;
          country = c.country;
          if (earlier.length < 10_000) earlier.push(n.e164);
          break;
        }
      }
    }
    const first = pick(FIRST);
    const last = pick(LAST);
    const consent = rand() < CONSENT;
    buf += `${phone},${country},${first},${last},${first.toLowerCase()}.${i}@example.com,${pick(TIERS)},${Math.floor(rand() * 50)},${consent ? '2025-06-01T12:00:00Z,web form' : ','}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise<void>((r) => out.end(() => r()));
  return { invalid, duplicates };
}

async function json(res: Response) {
  const t = await res.text();
  if (!res.ok) throw new Error(`${res.status} ${t}`);
  return JSON.parse(t);
}

function rssOf(pid: number): number {
  const s = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
}

async function startEngine(): Promise<{ url: string; proc: ChildProcess }> {
  const port = values.port!;
  const profile = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
  const proc = spawn(process.execPath, [...profile, MAIN_JS], {
    env: {
      ...process.env,
      PORT: port,
      PARLEY_ROLES: 'api,scheduler',
      // Its own queue prefix: engines of other databases on this Redis must not take its jobs.
      KAFKA_TOPIC_PREFIX: `benchimport${process.pid}.`,
      DATABASE_URL: values.database,
      PARLEY_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`engine exited with ${proc.exitCode}`);
    try {
      if ((await fetch(`${url}/health/live`)).ok) return { url, proc };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('engine did not start within 60 s');
}

async function main() {
  const file = path.join(os.tmpdir(), `parley-import-${ROWS}.csv`);
  const t0 = Date.now();
  // --keep also reuses a kept file of the same size (the generator is seeded: same rows).
  const counts = `${file}.${CONSENT}.json`;
  const kept = values.keep
    ? await fs.readFile(counts, 'utf8').then(
        (t) => JSON.parse(t) as { invalid: number; duplicates: number },
        () => undefined,
      )
    : undefined;
  const gen = kept ?? (await generate(file));
  if (values.keep) await fs.writeFile(counts, JSON.stringify(gen));
  const size = (await fs.stat(file)).size;
  console.log(
    `generated ${ROWS} rows (${gen.invalid} invalid, ${gen.duplicates} duplicates, ${(size / 1e6).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  let engine: { url: string; proc?: ChildProcess };
  let key = values.key;
  if (values.url) {
    if (!key) throw new Error('--key: needed with --url (a key of that engine)');
    engine = { url: values.url };
  } else {
    // The bench database, created and migrated if needed, and a workspace of this run.
    const db = await benchDb(2);
    try {
      key ??= (await createWorkspace(db, 'import-bench')).key;
    } finally {
      await db.destroy();
    }
    engine = await startEngine();
    // Interrupted: stop the engine this script started, not leave it running.
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        engine.proc?.kill('SIGTERM');
        process.exit(130);
      });
    }
  }
  const auth = { authorization: `Bearer ${key}` };
  let peakRss = 0;
  const sample = async () => {
    if (engine.proc?.pid) peakRss = Math.max(peakRss, rssOf(engine.proc.pid));
    else {
      const m = await (await fetch(`${engine.url}/metrics`)).text();
      peakRss = Math.max(peakRss, Number(/^process_resident_memory_bytes (\d+)/m.exec(m)?.[1] ?? 0));
    }
  };
  const sampler = setInterval(() => void sample().catch(() => undefined), 200);

  try {
    const aud = await json(
      await fetch(`${engine.url}/v1/audiences`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `bench ${ROWS}` }),
      }),
    );
    // The database's share: CPU of the server processes serving this database's connections (the
    // engine's pool; Postgres runs on this host). Both figures hold on a busy host, unlike wall time.
    const pgCpu = () => {
      const pids = execFileSync(
        'psql',
        [
          values.database!,
          '-Atc',
          'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
        ],
        { encoding: 'utf8' },
      )
        .split('\n')
        .filter(Boolean);
      return pids.reduce((sum, pid) => {
        const cpu = cpuSecondsOf(Number(pid));
        return Number.isNaN(cpu) ? sum : sum + cpu; // NaN: ended meanwhile
      }, 0);
    };
    const cpu0 = engine.proc?.pid ? cpuSecondsOf(engine.proc.pid) : 0;
    const pgCpu0 = engine.proc ? pgCpu() : 0;
    const start = Date.now();
    const created = await json(
      await fetch(`${engine.url}/v1/audiences/${aud.id}/imports?default_country=US`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'text/csv' },
        body: Readable.toWeb(createReadStream(file)) as unknown as ReadableStream,
        duplex: 'half',
      } as RequestInit),
    );
    const accepted = Date.now() - start;
    let job: Record<string, number | string>;
    while (true) {
      job = await json(await fetch(`${engine.url}/v1/imports/${created.id}`, { headers: auth }));
      if (job.status === 'completed' || job.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const secs = (Date.now() - start) / 1000;
    await sample();
    const rate = ROWS / secs;
    console.log(
      `import ${job.status}: total ${job.total}, imported ${job.imported}, updated ${job.updated}, duplicates ${job.duplicates}, invalid ${job.invalid}`,
    );
    console.log(
      `upload accepted (202) after ${(accepted / 1000).toFixed(1)} s; done after ${secs.toFixed(1)} s: ${Math.round(rate).toLocaleString('en-US')} rows/s`,
    );
    const cpu = engine.proc?.pid
      ? `, CPU ${(cpuSecondsOf(engine.proc.pid) - cpu0).toFixed(1)} s; database CPU ${(pgCpu() - pgCpu0).toFixed(1)} s`
      : '';
    console.log(`engine peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB${cpu}`);

    // Baseline: the same file into a bare table, no normalization, no indexes.
    const psql = (sqlText: string) =>
      execFileSync('psql', [values.database!, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sqlText], {
        encoding: 'utf8',
      });
    psql(
      'drop table if exists bench_import_copy; create table bench_import_copy (phone text, country text, first_name text, last_name text, email text, tier text, visits text, opted_in_at text, consent_source text)',
    );
    const c0 = Date.now();
    psql(`\\copy bench_import_copy from '${file}' with (format csv, header true)`);
    const copySecs = (Date.now() - c0) / 1000;
    psql('drop table bench_import_copy');
    const copyRate = ROWS / copySecs;
    console.log(
      `psql \\copy of the same file: ${copySecs.toFixed(1)} s, ${Math.round(copyRate).toLocaleString('en-US')} rows/s`,
    );
    console.log(`our rate is ${(rate / copyRate).toFixed(2)} of COPY`);
    const expected = {
      imported: ROWS - gen.invalid - gen.duplicates,
      duplicates: gen.duplicates,
      invalid: gen.invalid,
    };
    const exact =
      job.imported === expected.imported &&
      job.duplicates === expected.duplicates &&
      job.invalid === expected.invalid;
    if (!exact) console.log(`counts differ from the generated file: expected ${JSON.stringify(expected)}`);
    const met = rate >= 50_000 && peakRss < 500 * 2 ** 20;
    emitResults(
      'import',
      [
        {
          scenario: 'import',
          size: `${fmt(ROWS)} rows`,
          rate: `${fmt(rate)} rows/s`,
          target: '>= 50,000 rows/s, RSS < 500 MiB',
          verdict: job.status !== 'completed' || !exact ? 'FAIL' : met ? 'pass' : 'below target',
          notes: `${(rate / copyRate).toFixed(2)} of psql \\copy (${fmt(copyRate)} rows/s); peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
        },
      ],
      [
        `generated ${fmt(ROWS)} rows: ${gen.invalid} invalid, ${gen.duplicates} duplicates, ${(size / 1e6).toFixed(1)} MB, ${CONSENT * 100}% with consent columns`,
        `import ${job.status}: imported ${job.imported}, updated ${job.updated}, duplicates ${job.duplicates}, invalid ${job.invalid}`,
        `end to end ${secs.toFixed(1)} s; the upload was answered 202 after ${(accepted / 1000).toFixed(1)} s`,
      ],
    );
    if (job.status !== 'completed' || !exact) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    engine.proc?.kill('SIGTERM');
    if (!values.keep) await Promise.all([fs.rm(file, { force: true }), fs.rm(counts, { force: true })]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
