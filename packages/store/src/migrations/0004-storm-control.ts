/**
 * Storm control. Digests: the groups that fold a destination's notifications into one message per window,
 * the events each holds, and on a delivery the log shows `folded`, the digest it went into.
 * The same table holds the watches of rules' `expect` (kind `overdue`): one execution, due
 * when it should have ended, `met` when it did. Send-once keys (a rule's `oncePer`), and the
 * counters of rate limits.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('digests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    // Rule, destination and the groupBy values: events with the same key join one digest.
    .addColumn('group_key', 'text', (c) => c.notNull())
    // digest | overdue
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('digest'))
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    // The destination as routing made it (JSON), so any replica can send the digest.
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('group_values', 'text', (c) => c.notNull())
    .addColumn('window_ms', 'bigint', (c) => c.notNull())
    .addColumn('max_members', 'integer', (c) => c.notNull())
    // open → closed (its window ended; being sent) → sent | empty | dead-lettered; an overdue
    // watch whose execution ended in time: met.
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('members', 'integer', (c) => c.notNull())
    .addColumn('opened_at', 'bigint', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('closed_at', 'bigint')
    // When a closed digest is tried (again): after a failed send, its backoff.
    .addColumn('next_try_at', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    // immediateFirst: the event that opened it, sent at once (and its JSON, for the template).
    .addColumn('opener_event_id', 'text')
    .addColumn('opener_event', 'text')
    .execute();
  // At most one open digest per group: replicas racing to open one agree on the winner.
  await sql`create unique index digests_open on digests (group_key) where status = 'open'`.execute(db);
  // One watch ever per rule, destination and execution: its start and its end, in whichever
  // order they arrive, decide it in one statement each.
  await sql`create unique index digests_watch on digests (group_key) where kind = 'overdue'`.execute(db);
  // The replicas' poll for digests that are due.
  await db.schema.createIndex('digests_status_due').on('digests').columns(['status', 'due_at']).execute();
  await db.schema
    .createTable('digest_events')
    .addColumn('digest_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('joined_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('digest_events_pk', ['digest_id', 'event_id'])
    .execute();
  await db.schema.alterTable('deliveries').addColumn('digest_id', 'text').execute();
  await db.schema
    .createTable('once_keys')
    // A hash of the rule, the destination and the key's value.
    .addColumn('once_key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    // The event that sent it: it alone goes on (its retries, its redeliveries).
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('once_keys_created').on('once_keys').column('created_at').execute();
  await db.schema
    .createTable('rate_counters')
    .addColumn('destination', 'text', (c) => c.notNull())
    // The period's start: epoch milliseconds, a multiple of its length.
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_counters_pk', ['destination', 'window_start'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('rate_counters').execute();
  await db.schema.dropTable('once_keys').execute();
  await db.schema.alterTable('deliveries').dropColumn('digest_id').execute();
  await db.schema.dropTable('digest_events').execute();
  await db.schema.dropTable('digests').execute();
}
