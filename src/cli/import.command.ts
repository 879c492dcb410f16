// `parley import <file> --audience <id>`: streams a CSV or NDJSON file to the API (never read
// whole), then follows the import job with a progress bar until it ends and prints the summary.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CliCommand, UsageError, options } from './command';

const POLL_MS = 250;

function bar(label: string, done: number, total: number, unit: string): string {
  const width = 30;
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(frac * width);
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} ${unit}`;
}

function progress(line: string, last = false) {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${last ? '\n' : ''}`);
  else if (last) process.stderr.write(`${line}\n`);
}

/** What GET /v1/imports/:id answers, as far as this command reads it. */
interface ImportJob {
  id?: string;
  status?: string;
  processed?: number;
  total: number;
  imported?: number;
  updated?: number;
  duplicates?: number;
  invalid: number;
  error?: string | null;
}

export const importCommand: CliCommand = {
  name: 'import',
  summary: 'Import a CSV or NDJSON file of contacts into an audience, with progress.',
  usage:
    '<file> --audience <id> [--default-country US] [--format csv|ndjson] [--url http://127.0.0.1:3000] [--key $PARLEY_API_KEY] [--errors <out.csv>]',
  async run(args) {
    const { values, positionals } = options(args, {
      audience: { type: 'string' },
      'default-country': { type: 'string' },
      format: { type: 'string' },
      url: { type: 'string' },
      key: { type: 'string' },
      errors: { type: 'string' },
    });
    const file = positionals[0];
    if (!file) throw new UsageError('a file to import is required: parley import <file> --audience <id>');
    if (!values.audience) throw new UsageError('--audience: the audience id is required');
    const key = values.key ?? process.env.PARLEY_API_KEY;
    if (!key) throw new UsageError('--key: an API key is required (or set PARLEY_API_KEY)');
    const base = (values.url ?? process.env.PARLEY_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
    const format = values.format ?? (/\.(nd)?jsonl?$|\.ndjson$/i.test(file) ? 'ndjson' : 'csv');
    if (format !== 'csv' && format !== 'ndjson') throw new UsageError('--format: csv or ndjson');
    const size = (
      await fs.stat(file).catch(() => {
        throw new UsageError(`${file}: no such file`);
      })
    ).size;

    const started = Date.now();
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.length;
        progress(bar('upload ', sent, size, 'bytes'));
        cb(null, chunk);
      },
    });
    const body = createReadStream(file).pipe(counter);
    const query = values['default-country']
      ? `?default_country=${encodeURIComponent(values['default-country'])}`
      : '';
    const auth = { authorization: `Bearer ${key}` };
    const res = await fetch(`${base}/v1/audiences/${encodeURIComponent(values.audience)}/imports${query}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': format === 'csv' ? 'text/csv' : 'application/x-ndjson' },
      body: Readable.toWeb(body) as unknown as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    const created = (await res.json().catch(() => ({}))) as { id?: string; error?: { message: string } };
    if (res.status !== 202 || !created.id) {
      progress('', true);
      console.error(`parley import: ${res.status} ${created.error?.message ?? res.statusText}`);
      return 1;
    }
    progress(bar('upload ', size, size, 'bytes'), true);

    let job: ImportJob = { total: 0, invalid: 0 };
    while (true) {
      const r = await fetch(`${base}/v1/imports/${created.id}`, { headers: auth });
      job = (await r.json()) as ImportJob;
      progress(bar('import ', job.processed ?? 0, job.total ?? 0, 'rows'));
      if (job.status === 'completed' || job.status === 'failed') break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    progress(bar('import ', job.processed ?? 0, job.total ?? 0, 'rows'), true);
    const secs = (Date.now() - started) / 1000;
    console.log(
      `import ${job.id} ${job.status}: ${job.total} rows in ${secs.toFixed(1)} s ` +
        `(${Math.round(job.total / secs)} rows/s): imported ${job.imported}, updated ${job.updated}, ` +
        `duplicates ${job.duplicates}, invalid ${job.invalid}` +
        (job.error ? `; error: ${job.error}` : ''),
    );
    if (job.invalid > 0) {
      if (values.errors) {
        const er = await fetch(`${base}/v1/imports/${created.id}/errors`, { headers: auth });
        await pipeline(
          Readable.fromWeb(er.body as unknown as WebReadableStream),
          createWriteStream(values.errors),
        );
        console.log(`refused rows written to ${values.errors}`);
      } else {
        console.log(`refused rows: GET ${base}/v1/imports/${created.id}/errors (or --errors <file>)`);
      }
    }
    return job.status === 'completed' ? 0 : 1;
  },
};
