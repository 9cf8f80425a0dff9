/**
 * Version 2: the message each event arrived in, kept (as long as its deliveries) so that
 * `herald redeliver` can send it through the queue again.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('messages')
    .addColumn('event_id', 'text', (c) => c.primaryKey())
    // The body as text; bytes (a Pub/Sub message) in base64, said by `encoding`.
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('encoding', 'text', (c) => c.notNull())
    // The transport's attributes, as JSON.
    .addColumn('attributes', 'text', (c) => c.notNull())
    .addColumn('kept_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('messages_kept').on('messages').column('kept_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('messages').execute();
}
