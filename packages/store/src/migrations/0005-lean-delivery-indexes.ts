/**
 * Version 5: fewer index writes per delivery. A delivery's row is written twice (claimed,
 * then settled), and every index on a column either write changes costs a B-tree delete and
 * insert each time; two of version 1's indexes were on such columns and served no delivery.
 *
 * - `deliveries_updated` (retention's batches) goes: retention looks rows up by
 *   `deliveries_time` and keeps its `updated_at` condition. Every write that sets
 *   `last_attempt_at` sets `updated_at` to the same now, and the others only set `updated_at`,
 *   so `updated_at` is not earlier than `last_attempt_at` but by a few milliseconds (a late
 *   settlement whose statement began before another replica's claim; a clock stepped back).
 *   Such a row is kept a little longer; no row goes earlier than before.
 * - `deliveries_status_time` becomes partial, without the two statuses every delivery passes
 *   through (`pending`, then `delivered`): settling a delivery then touches no status index,
 *   and `list --status dead-lettered` (or retrying, silenced, …) is still one index range.
 *   A query uses it only when it repeats the index's condition word for word (schema.ts's
 *   `ATTENTION_STATUSES_SQL`). `pending` and `delivered` are read by time: a list of pending
 *   deliveries (few, and recent) walks the time index from the newest row, to its end when
 *   fewer than the limit are pending, so `--since` keeps it short on a large log.
 */
import { type Kysely, sql } from 'kysely';

/**
 * The partial index's condition, as of this version (a migration never changes): the store's
 * queries repeat it from `ATTENTION_STATUSES_SQL` in schema.ts, and a test reads SQLite's plan
 * to see that they still match.
 */
const ATTENTION = `status not in ('pending', 'delivered')`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('deliveries_updated').execute();
  await db.schema.dropIndex('deliveries_status_time').execute();
  await db.schema
    .createIndex('deliveries_attention')
    .on('deliveries')
    .columns(['status', 'last_attempt_at'])
    .where(sql<boolean>`${sql.raw(ATTENTION)}`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('deliveries_attention').execute();
  await db.schema
    .createIndex('deliveries_status_time')
    .on('deliveries')
    .columns(['status', 'last_attempt_at'])
    .execute();
  await db.schema.createIndex('deliveries_updated').on('deliveries').column('updated_at').execute();
}
