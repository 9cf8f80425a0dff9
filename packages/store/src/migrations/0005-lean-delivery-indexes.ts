/**
 * Version 5: fewer index writes per delivery. A delivery's row is written twice (claimed,
 * then settled), and every index on a column either write changes costs a B-tree delete and
 * insert each time; two of version 1's indexes were on such columns and served no delivery.
 *
 * - `deliveries_updated` (retention's batches) goes: a row's `updated_at` is never earlier
 *   than its `last_attempt_at` (every write that sets the one sets the other to the same now,
 *   or only moves `updated_at` on), so retention looks rows up by `deliveries_time` and keeps
 *   the `updated_at` condition: the same rows go.
 * - `deliveries_status_time` becomes partial, without the two statuses every delivery passes
 *   through (`pending`, then `delivered`): settling a delivery then touches no status index,
 *   and `list --status dead-lettered` (or retrying, silenced, …) is still one index range.
 *   A query uses it only when it repeats the index's condition word for word (schema.ts's
 *   `ATTENTION_STATUSES_SQL`); `pending` and `delivered` are read by time.
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
