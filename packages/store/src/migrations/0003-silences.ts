/**
 * Silences: what an operator muted, for how long, and why; and, on a delivery the log shows
 * `silenced`, the silence that muted it.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('silences')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // The matchers, as JSON: [{ "field": "project", "pattern": "flytesnacks" }, …].
    .addColumn('matchers', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('starts_at', 'bigint', (c) => c.notNull())
    .addColumn('ends_at', 'bigint', (c) => c.notNull())
    .execute();
  // The replicas' poll for the silences in force, and retention.
  await db.schema.createIndex('silences_ends').on('silences').column('ends_at').execute();
  await db.schema.alterTable('deliveries').addColumn('silence_id', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('deliveries').dropColumn('silence_id').execute();
  await db.schema.dropTable('silences').execute();
}
