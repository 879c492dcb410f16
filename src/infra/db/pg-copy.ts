// COPY … FROM STDIN for bulk loads: rows go to Postgres as lines of COPY's text format
// (copy-writer.ts), with no per-row parameter or array serialization on either side.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFromStdin } from 'pg-copy-streams';
import { Db, poolOf } from './db';

/**
 * Runs one `COPY table (columns) FROM STDIN` with the given data (whole lines, e.g. a CopyWriter's)
 * on a pooled connection; the rows commit together when it returns.
 */
export async function copyFrom(
  db: Db,
  statement: string,
  data: string | readonly (string | Uint8Array)[],
): Promise<void> {
  const client = await poolOf(db).connect();
  try {
    const sink = client.query(copyFromStdin(statement));
    await pipeline(Readable.from(typeof data === 'string' ? [data] : data), sink);
    client.release();
  } catch (e) {
    // The connection may be mid-COPY: do not hand it to the next caller.
    client.release(e instanceof Error ? e : true);
    throw e;
  }
}
