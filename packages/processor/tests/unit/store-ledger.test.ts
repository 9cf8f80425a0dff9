import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { silentLogger } from '@herald/core/runtime';
import { StoreLedger } from '@herald/processor';
import { openStore } from '@herald/store';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, makeHarness } from '../helpers/harness.js';

let dir: string;
let harness: Harness | undefined;
afterEach(async () => {
  await harness?.processor.stop();
  harness = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Two addresses that take email, and a channel that does not exist: dead-lettered for good. */
const event = sampleEvent({
  id: 'restart-1',
  execution: { project: 'p', domain: 'd', name: 'f8a1b2c3' },
  notifications: [
    { phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } },
    { phases: ['FAILED'], email: { recipients: ['owner@example.com'], subject: 'own {{ name }}' } },
    { phases: ['FAILED'], slack: { channel: 'nowhere' } },
  ],
});

async function runOnce(url: string): Promise<Harness> {
  const ledger = new StoreLedger({ url, leaseMs: 30_000, retentionDays: 14, logger: silentLogger });
  const h = makeHarness('', { ledger });
  harness = h;
  await ledger.start();
  await h.processor.start();
  h.publish(event);
  await h.acked(1);
  await h.processor.stop();
  await ledger.close();
  harness = undefined;
  return h;
}

describe('a delivery ledger in SQLite', () => {
  it('sends nothing new when a message comes back after a restart: delivered and dead-lettered stay settled', async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-ledger-'));
    const url = `sqlite:${join(dir, 'herald.db')}`;

    const first = await runOnce(url);
    expect(first.emailer.sent.map((email) => email.to)).toEqual([['oncall@example.com'], ['owner@example.com']]);
    expect(first.seen.dead_lettered.map((d) => d.destination)).toEqual(['channel:nowhere']);

    const again = await runOnce(url);
    expect(again.emailer.sent).toEqual([]);
    expect(again.seen.dead_lettered).toEqual([]);
    expect(again.seen.duplicate_skipped).toHaveLength(3);

    // The log says what happened to each destination, readably.
    const store = await openStore({ url });
    try {
      const rows = await store.list({ execution: 'f8a1b2c3' });
      expect(rows.map((row) => [row.label, row.status, row.attempts]).sort()).toEqual([
        ['email to oncall@example.com', 'delivered', 1],
        ['email to owner@example.com', 'delivered', 1],
        ["unknown 'nowhere'", 'dead-lettered', 1],
      ]);
    } finally {
      await store.close();
    }
  });
});
