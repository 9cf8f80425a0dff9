/**
 * Version 1: the delivery log (one row per event and destination, holding its claim), its
 * attempts, and undecodable messages. Written with Kysely's schema builder so that one
 * migration serves SQLite and PostgreSQL; `bigint` is an integer in SQLite.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('deliveries')
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('project', 'text')
    .addColumn('domain', 'text')
    .addColumn('name', 'text')
    .addColumn('phase', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('provider_message_id', 'text')
    .addColumn('subject', 'text')
    .addColumn('first_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('last_attempt_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    // The claim's conflict target, and `list --event-id` / `show EVENT_ID`.
    .addPrimaryKeyConstraint('deliveries_pk', ['event_id', 'destination'])
    .execute();
  // `list --execution NAME` (and project/domain/name), newest first.
  await db.schema
    .createIndex('deliveries_execution')
    .on('deliveries')
    .columns(['name', 'project', 'domain', 'last_attempt_at'])
    .execute();
  // `list --status dead-lettered --since T`.
  await db.schema
    .createIndex('deliveries_status_time')
    .on('deliveries')
    .columns(['status', 'last_attempt_at'])
    .execute();
  // `list` with only a time range, newest first.
  await db.schema.createIndex('deliveries_time').on('deliveries').column('last_attempt_at').execute();
  // Retention's batches.
  await db.schema.createIndex('deliveries_updated').on('deliveries').column('updated_at').execute();

  await db.schema
    .createTable('attempts')
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('destination', 'text', (c) => c.notNull())
    .addColumn('attempt', 'integer', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('provider_message_id', 'text')
    .addPrimaryKeyConstraint('attempts_pk', ['event_id', 'destination', 'attempt'])
    // Retention deletes a delivery's attempts with it.
    .addForeignKeyConstraint(
      'attempts_delivery',
      ['event_id', 'destination'],
      'deliveries',
      ['event_id', 'destination'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('undecodable')
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('undecodable_time').on('undecodable').column('received_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('undecodable').execute();
  await db.schema.dropTable('attempts').execute();
  await db.schema.dropTable('deliveries').execute();
}
