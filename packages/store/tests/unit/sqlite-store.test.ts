/**
 * The delivery store on SQLite (libsql): files in a temporary directory, two stores on one
 * file standing for two processes, and a real second process racing for claims.
 */
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DeliveryStatus, openStore, parseStoreUrl } from '@herald/store';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/migrations/index.js';
import { describeDeliveryStore } from '../support/behaviour.js';

let dir = '';
let files = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-store-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeDeliveryStore('SQLite', {
  newUrl: async () => `sqlite:${join(dir, `db-${++files}`, 'herald.db')}`,
});

describe('SQLite store files', () => {
  it('creates the parent directory, uses WAL and takes a plain path', async () => {
    const path = join(dir, 'nested', 'deeper', 'herald.db');
    const store = await openStore({ url: path });
    expect((await store.claim({ eventId: 'e', destination: 'channel:x', label: "slack 'x'" }, 1000)).outcome).toBe(
      'claimed',
    );
    await store.close();
    expect((await stat(path)).isFile()).toBe(true);
    // WAL mode is a property of the file: a new connection finds it set.
    const { default: Sqlite } = await import('libsql');
    const db = new Sqlite(path);
    expect(db.prepare('pragma journal_mode').get()).toMatchObject({ journal_mode: 'wal' });
    db.close();
  });

  it('reads store URLs', () => {
    expect(parseStoreUrl('sqlite:/var/lib/herald.db')).toEqual({ kind: 'sqlite', path: '/var/lib/herald.db' });
    expect(parseStoreUrl('sqlite:///var/lib/herald.db')).toEqual({ kind: 'sqlite', path: '/var/lib/herald.db' });
    expect(parseStoreUrl('sqlite:.herald/herald.db')).toEqual({
      kind: 'sqlite',
      path: join(process.cwd(), '.herald/herald.db'),
    });
    expect(parseStoreUrl('/tmp/h.db')).toEqual({ kind: 'sqlite', path: '/tmp/h.db' });
    expect(parseStoreUrl('sqlite::memory:')).toEqual({ kind: 'sqlite', path: ':memory:' });
    expect(parseStoreUrl('postgres://herald:pw@db:5432/herald')).toEqual({
      kind: 'postgres',
      connectionString: 'postgres://herald:pw@db:5432/herald',
    });
    expect(parseStoreUrl('postgresql://db/herald').kind).toBe('postgres');
    expect(() => parseStoreUrl('mysql://u:secret@db/herald')).toThrow(/use sqlite:PATH or postgres/);
    expect(() => parseStoreUrl('mysql://u:secret@db/herald')).not.toThrow(/secret/);
    expect(() => parseStoreUrl('sqlite:')).toThrow(/no file path/);
  });
});

describe('SQLite query plans', () => {
  it('reads a status that needs attention through its partial index, and purges by time', async () => {
    const path = join(dir, 'plans', 'herald.db');
    const { default: Sqlite } = await import('libsql');
    // The statements the store prepares, to ask SQLite how it runs them.
    const prepared: string[] = [];
    const prototype = Sqlite.prototype as { prepare: (source: string) => unknown };
    const prepare = prototype.prepare;
    prototype.prepare = function (this: unknown, source: string) {
      prepared.push(source);
      return prepare.call(this, source);
    };
    const store = await openStore({ url: path });
    try {
      await store.list({ status: 'dead-lettered' });
      await store.purge(new Date());
    } finally {
      prototype.prepare = prepare;
      await store.close();
    }
    const db = new Sqlite(path);
    const plan = (source: string, params: unknown[]) =>
      (db.prepare(`explain query plan ${source}`).all(params) as { detail: string }[]).map((r) => r.detail).join('\n');
    const list = prepared.find((s) => /^select .* from "deliveries" where "status" = \?/.test(s));
    const purge = prepared.find((s) => s.startsWith('delete from deliveries'));
    expect(plan(list ?? '', ['dead-lettered', 100])).toMatch(/USING INDEX deliveries_attention/);
    expect(plan(purge ?? '', [0, 0, 500])).toMatch(/USING INDEX deliveries_time/);
    db.close();
  });
});

describe('SQLite upgrade to version 5', () => {
  it('keeps a populated delivery log listable by status and purgeable after its indexes change', async () => {
    const path = join(dir, 'upgrade', 'herald.db');
    await mkdir(join(dir, 'upgrade'), { recursive: true });
    const { default: Sqlite } = await import('libsql');
    const database = new Sqlite(path);
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database }) });
    const upToFour = Object.fromEntries(Object.entries(MIGRATIONS).filter(([name]) => name < '0005'));
    const { error } = await new Migrator({ db, provider: { getMigrations: async () => upToFour } }).migrateToLatest();
    expect(error).toBeUndefined();
    // Rows as version 4 wrote them: one old and delivered, one dead-lettered, one pending.
    const old = Date.now() - 30 * 24 * 60 * 60 * 1000;
    const now = Date.now();
    const row = database.prepare(`insert into deliveries (event_id, destination, label, status, attempts,
        first_attempt_at, last_attempt_at, updated_at) values (?, 'channel:oncall', 'slack ''oncall''', ?, 1, ?, ?, ?)`);
    row.run(['up-old', 'delivered', old, old, old]);
    row.run(['up-dead', 'dead-lettered', now, now, now]);
    row.run(['up-pending', 'pending', now, now, now]);
    await db.destroy();

    const store = await openStore({ url: path });
    try {
      const ids = async (status: DeliveryStatus) => (await store.list({ status })).map((r) => r.eventId);
      expect(await ids('dead-lettered')).toEqual(['up-dead']);
      expect(await ids('pending')).toEqual(['up-pending']);
      expect(await ids('delivered')).toEqual(['up-old']);
      expect(await store.purge(new Date(now - 24 * 60 * 60 * 1000))).toBe(1);
      expect((await store.list({})).map((r) => r.eventId).sort()).toEqual(['up-dead', 'up-pending']);
    } finally {
      await store.close();
    }
    const check = new Sqlite(path);
    const indexes = (
      check
        .prepare(`select name from sqlite_master where type = 'index' and tbl_name = 'deliveries'
      and name not like 'sqlite_%' order by name`)
        .all() as { name: string }[]
    ).map((r) => r.name);
    check.close();
    expect(indexes).toEqual(['deliveries_attention', 'deliveries_execution', 'deliveries_time']);
  });
});
