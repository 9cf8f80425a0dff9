import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { silentLogger } from '@herald/core/runtime';
import { type DeliveryLedger, StoreLedger } from '@herald/processor';
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
      // And it keeps the message the event came in, for `herald redeliver`.
      expect(JSON.parse(String((await store.message('restart-1'))?.body)).id).toBe('restart-1');
    } finally {
      await store.close();
    }
  });
});

describe('a delivery claimed by a replica that died mid-send', () => {
  it('is retried no sooner than its lease ends (what is left of it), so the waits do not use up the message’s receives', async () => {
    dir = await mkdtemp(join(tmpdir(), 'herald-ledger-'));
    const url = `sqlite:${join(dir, 'herald.db')}`;
    const leaseMs = 60_000;
    const single = sampleEvent({
      id: 'crash-1',
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    });

    // The first replica sends, then dies before recording it: its claim stays, leased.
    const dying = new StoreLedger({ url, leaseMs, retentionDays: 14, logger: silentLogger, owner: 'dead:1:aa' });
    const died: DeliveryLedger = {
      begin: (entry) => dying.begin(entry),
      delivered: async () => {},
      failed: async () => {},
      deadLettered: async () => {},
      undecodable: async () => {},
      keep: async () => {},
    };
    const first = makeHarness('', { ledger: died });
    harness = first;
    await dying.start();
    await first.processor.start();
    first.publish(single);
    await first.acked(1);
    await first.processor.stop();
    await dying.close();
    expect(first.emailer.sent).toHaveLength(1);

    // The message comes back to another replica: busy, and back only once the claim has expired.
    const ledger = new StoreLedger({ url, leaseMs, retentionDays: 14, logger: silentLogger });
    const second = makeHarness('', { ledger, maxAttempts: 3 });
    harness = second;
    await ledger.start();
    const retried = new Promise<void>((resolve) => second.processor.events.on('retry_scheduled', () => resolve()));
    await second.processor.start();
    second.publish(single);
    await retried;
    await second.processor.stop();
    await ledger.close();
    harness = undefined;

    expect(second.emailer.attempts).toEqual([]);
    expect(second.seen.retry_scheduled.map((r) => r.error)).toEqual(['being delivered by another copy']);
    // Far beyond this harness's retryMaxDelayMs (40 ms): what is left of the dead replica's
    // lease, which it took moments ago.
    const delayMs = second.seen.retry_scheduled[0]?.delayMs ?? 0;
    expect(delayMs).toBeGreaterThan(leaseMs - 10_000);
    expect(delayMs).toBeLessThanOrEqual(leaseMs);
  });
});
