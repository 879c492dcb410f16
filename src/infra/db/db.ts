// Kysely over a pg pool. Used by repositories only; nothing else writes SQL.
import { Kysely, PostgresDialect } from 'kysely';
import { Pool, types } from 'pg';
import type { Database } from './database';

// int8 (bigint) counts fit in a JS number for every figure Parley keeps.
types.setTypeParser(20, (v) => Number(v));
// numeric too (rates, averages).
types.setTypeParser(1700, (v) => Number(v));

export type Db = Kysely<Database>;

// The pool under each Db, for the one thing kysely cannot do: COPY (see pg-copy.ts).
const pools = new WeakMap<Db, Pool>();

export function poolOf(db: Db): Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('this Db was not made by createDb');
  return pool;
}

export function createDb(url: string, poolSize: number): Db {
  const pool = new Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5_000,
    // Short statements over indexes: JIT compiling (measured ~140 ms on a campaign's recipient
    // page, whose cost estimate crosses the threshold) only ever adds latency here.
    options: '-c jit=off',
  });
  // A client losing its server (restart, network) must not crash the process: the pool's handler
  // covers idle clients; a checked-out one between statements (inside a transaction) emits on
  // itself. Either way the client is no longer queryable, so the pool drops it on release and the
  // statement that was using it fails with the error, to be retried by its caller.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}
