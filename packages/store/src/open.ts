/**
 * Opening a store from its URL: the driver and Kysely dialect for it, the connection settings
 * each backend needs, and the migrations applied before anything else touches the tables.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Kysely, type LogEvent, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import type Sqlite from 'libsql';
import type pg from 'pg';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';
import { type Backend, KyselyDeliveryStore } from './store.js';
import type { DeliveryStore } from './types.js';
import type { DeliveryWrites } from './writes.js';
import { POSTGRES_NOW, PostgresWrites } from './writes-postgres.js';
import { SQLITE_NOW, SqliteWrites } from './writes-sqlite.js';

let loadingPg: Promise<typeof pg> | undefined;
let loadingLibsql: Promise<typeof Sqlite> | undefined;

/** The PostgreSQL driver, imported by the first store opened on a `postgres://` URL. */
function loadPg(): Promise<typeof pg> {
  loadingPg ??= import('pg').then((module) => module.default);
  return loadingPg;
}

/** The SQLite driver, imported by the first store opened on an SQLite URL. */
function loadLibsql(): Promise<typeof Sqlite> {
  loadingLibsql ??= import('libsql').then((module) => module.default);
  return loadingLibsql;
}

export interface StoreOptions {
  /**
   * `sqlite:PATH` (`sqlite:.herald/herald.db`, `sqlite:///var/lib/herald.db`), a plain file
   * path (SQLite), `sqlite::memory:` (one process, gone at close), or `postgres://…` /
   * `postgresql://…` (libpq form; the password may be percent-encoded).
   */
  url: string;
  /** Who this replica is in leases and attempts; default `host:pid:random`. */
  owner?: string | undefined;
  /** PostgreSQL: connections in the pool (default 10). */
  poolSize?: number | undefined;
  /** SQLite: how long a statement waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number | undefined;
}

/** Where a store URL points. */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; connectionString: string };

/** Reads a store URL; throws on a scheme it does not know rather than guessing. */
export function parseStoreUrl(url: string): StoreLocation {
  const trimmed = url.trim();
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return { kind: 'postgres', connectionString: trimmed };
  const sqlite = /^sqlite:(.*)$/i.exec(trimmed);
  if (sqlite) {
    // sqlite:///abs/path and sqlite://rel/path as well as sqlite:path.
    const path = (sqlite[1] ?? '').replace(/^\/\//, '');
    if (!path) throw new Error(`store url ${url}: no file path after sqlite:`);
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new Error(`store url ${url.replace(/\/\/[^@/]*@/, '//***@')}: use sqlite:PATH or postgres://…`);
  }
  if (!trimmed) throw new Error('store url is empty');
  return { kind: 'sqlite', path: resolve(trimmed) };
}

/** This replica's default owner id: readable in the log, unique across restarts. */
export function defaultOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/** Opens the store and brings its schema up to date. */
export async function openStore(options: StoreOptions): Promise<DeliveryStore> {
  const counter = { trips: 0 };
  const connection = await connect(options, counter);
  const { db, backend } = connection;
  const owner = options.owner ?? defaultOwner();
  let writes: DeliveryWrites;
  try {
    await migrate(db, backend);
    // After the migrations: the hot path's statements are prepared against the tables.
    writes =
      connection.backend === 'postgres'
        ? new PostgresWrites(connection.pool, owner)
        : new SqliteWrites(connection.database, owner);
  } catch (err) {
    if (connection.backend === 'postgres') await connection.pool.end();
    await db.destroy();
    throw err;
  }
  counter.trips = 0;
  const now = sql<number>`${sql.raw(backend === 'postgres' ? POSTGRES_NOW : SQLITE_NOW)}`;
  return new KyselyDeliveryStore(db, writes, backend, now, counter);
}

/** `herald store migrate`: applies pending migrations and closes; returns the names applied. */
export async function migrateStore(url: string): Promise<string[]> {
  const { db, backend } = await connect({ url }, { trips: 0 });
  try {
    return await migrate(db, backend);
  } finally {
    await db.destroy();
  }
}

/** A Kysely instance over the backend's driver, and the driver itself for the hot path. */
type Connection =
  | { backend: 'postgres'; db: Kysely<Database> /** The hot path's connections. */; pool: pg.Pool }
  | { backend: 'sqlite'; db: Kysely<Database>; database: Sqlite.Database };

/** Connects with the driver the URL names, importing only that one. */
async function connect(options: StoreOptions, counter: { trips: number }): Promise<Connection> {
  const location = parseStoreUrl(options.url);
  // Every statement Kysely sends (begin and commit included) is one round trip.
  const log = (_event: LogEvent) => {
    counter.trips++;
  };
  if (location.kind === 'postgres') {
    const pg = await loadPg();
    const settings = {
      connectionString: location.connectionString,
      // Times are bigint epoch milliseconds and counts are bigint: both fit a JavaScript number.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === pg.types.builtins.INT8
            ? Number
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    };
    const pool = new pg.Pool({ ...settings, max: options.poolSize ?? 10 });
    // The hot path's own connections (claims: up to 4 batches at once, records: one batch of
    // two statements). Its statements look a few rows up by primary key, but the planner
    // guesses a hundred rows from json_to_recordset and, while its statistics lag behind a
    // growing table, thinks the table small: it hash-joined them with a scan of the whole
    // table (2.5 ms instead of 0.8 for ten settlements among 3,500 rows, and growing). On these
    // connections it may only look rows up by index.
    const writesPool = new pg.Pool({
      ...settings,
      max: 6,
      options: '-c enable_hashjoin=off -c enable_mergejoin=off -c enable_seqscan=off',
    });
    return {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log }),
      backend: 'postgres',
      pool: writesPool,
    };
  }
  const Sqlite = await loadLibsql();
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (location.path !== ':memory:') mkdirSync(dirname(location.path), { recursive: true });
  // One connection, shared by Kysely and the hot path: libsql is synchronous, so the two never
  // interleave inside a statement, and SQLite writes one at a time anyway.
  const database = new Sqlite(location.path);
  // WAL: readers (`herald deliveries list`) never block the writer, and a commit is one
  // append. busy_timeout: a second process writing waits for the lock instead of failing.
  // synchronous=NORMAL is durable across process crashes in WAL mode (not power loss).
  database.exec(`pragma busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  if (location.path !== ':memory:') database.exec('pragma journal_mode = WAL');
  database.exec('pragma synchronous = NORMAL');
  database.exec('pragma foreign_keys = ON');
  const dialect = new SqliteDialect({ database });
  return { db: new Kysely<Database>({ dialect, log }), backend: 'sqlite', database };
}

async function migrate(db: Kysely<Database>, backend: Backend): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  // Kysely's SQLite migration lock is the one connection it holds, which says nothing about
  // another process opening the same file at the same moment: there, a busy database is
  // retried (the other process's migration is then found applied).
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    if (backend !== 'sqlite' || attempt >= 20 || !isBusy(error)) {
      throw new Error(`cannot migrate the delivery store: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
  }
}

function isBusy(err: unknown): boolean {
  const text = err instanceof Error ? `${(err as { code?: unknown }).code ?? ''} ${err.message}` : String(err);
  return /SQLITE_BUSY|SQLITE_LOCKED|database is locked/i.test(text);
}
