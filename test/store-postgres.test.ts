/**
 * The delivery store on PostgreSQL: the same behavioural suite as SQLite's
 * (`packages/store/tests/support/behaviour.ts`), against the throwaway cluster the global
 * set-up starts, each test in a database of its own.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { describeDeliveryStore } from '../packages/store/tests/support/behaviour.js';

const adminUrl = inject('postgresUrl');
const created: string[] = [];

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await admin(async (client) => {
    for (const name of created) await client.query(`drop database if exists ${name} with (force)`);
  });
});

describeDeliveryStore('PostgreSQL', {
  newUrl: async () => {
    const name = `herald_store_${randomBytes(4).toString('hex')}`;
    await admin((client) => client.query(`create database ${name}`));
    created.push(name);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  },
});
