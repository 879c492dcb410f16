// Kysely over a pg pool. Used by repositories only; nothing else writes SQL.
import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './database';

// int8 (bigint) counts fit in a JS number for every figure Parley keeps.
types.setTypeParser(20, (v) => Number(v));
// numeric too (rates, averages).
types.setTypeParser(1700, (v) => Number(v));

export type Db = Kysely<Database>;

export function createDb(url: string, poolSize: number): Db {
  const pool = new Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5_000 });
  // A client losing its server (restart, network) must not crash the process: the pool's handler
  // covers idle clients; a checked-out one between statements (inside a transaction) emits on
  // itself. Either way the client is no longer queryable, so the pool drops it on release and the
  // statement that was using it fails with the error, to be retried by its caller.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
