/**
 * The store's schema versions, in code rather than read from a folder at run time, so the
 * built package needs no files beside its JavaScript. One module per version; add the next as
 * `0002-….ts` and list it here. Kysely's `Migrator` applies those not yet applied, in name
 * order, under a lock (PostgreSQL: an advisory lock), so replicas starting together migrate once.
 */
import type { Migration, MigrationProvider } from 'kysely';
import * as v0001 from './0001-delivery-log.js';
import * as v0002 from './0002-messages.js';
import * as v0003 from './0003-silences.js';
import * as v0004 from './0004-storm-control.js';
import * as v0005 from './0005-lean-delivery-indexes.js';

export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-delivery-log': v0001,
  '0002-messages': v0002,
  '0003-silences': v0003,
  '0004-storm-control': v0004,
  '0005-lean-delivery-indexes': v0005,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};
