import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { compileConfigTemplates, parseConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import { DigestSender, type ProcessorEventMap, ProcessorEvents, StoreLedger } from '@herald/processor';
import type { DeliveryStore, DigestJoin } from '@herald/store';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingEmailer } from '../helpers/recording-emailer.js';

let dir: string | undefined;
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const part of opened.splice(0).reverse()) await part.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const config = parseConfig(
  `notifications: {type: sandbox, emailer: {sender: "herald@example.com"}}
herald:
  processor: {retryBaseDelayMs: 10, retryMaxDelayMs: 20, maxAttempts: 3}
  rules:
    - name: storm
      match: { project: storm }
      email: [oncall@example.com]
      digest: { window: 10m }
`,
  { env: {} },
);
const destination = {
  channel: 'email',
  key: 'email:default:oncall',
  to: ['oncall@example.com'],
  templatesFrom: 'config',
  origins: ['rule storm'],
};

/** A SQLite store, a ledger on it, and a sender (or two) as every replica has one. */
async function setUp(senders = 1) {
  dir = await mkdtemp(join(tmpdir(), 'herald-digest-sender-'));
  const emailer = new RecordingEmailer();
  const events = new ProcessorEvents();
  const seen = {
    digest_sent: [] as ProcessorEventMap['digest_sent'][],
    digest_failed: [] as ProcessorEventMap['digest_failed'][],
  };
  events.on('digest_sent', (e) => seen.digest_sent.push(e));
  events.on('digest_failed', (e) => seen.digest_failed.push(e));
  const url = `sqlite:${join(dir, 'herald.db')}`;
  const ledgers = Array.from(
    { length: senders },
    (_, i) => new StoreLedger({ url, leaseMs: 30_000, retentionDays: 14, logger: silentLogger, owner: `replica-${i}` }),
  );
  for (const ledger of ledgers) {
    await ledger.start();
    opened.push(ledger);
  }
  const templates = compileConfigTemplates(config);
  const made = ledgers.map(
    (ledger) =>
      new DigestSender({
        store: () => ledger.opened(),
        ledger,
        parts: { config, templates, emailer, channels: new Map(), codeRules: [] },
        config,
        events,
        logger: silentLogger,
        shutdownSignal: new AbortController().signal,
        random: () => 0.5,
      }),
  );
  return { emailer, seen, store: (ledgers[0] as StoreLedger).opened(), senders: made };
}

/** Folds `count` FAILED events of project storm into one digest, due at once. */
async function heldDigest(store: DeliveryStore, count: number, groupKey = 'storm-group'): Promise<string> {
  let digestId = '';
  for (let i = 0; i < count; i++) {
    const event = sampleEvent({
      id: `${groupKey}-${i}`,
      execution: { project: 'storm', domain: 'prod', name: `run-${i}` },
    });
    const delivery = { eventId: event.id, destination: destination.key, label: 'email to oncall@example.com' };
    expect((await store.claim(delivery, 30_000)).outcome).toBe('claimed');
    const join: DigestJoin = {
      groupKey,
      rule: 'storm',
      target: JSON.stringify(destination),
      group: {},
      windowMs: 1,
      max: 1_000,
      immediateFirst: false,
      event: JSON.stringify(event),
    };
    digestId = (await store.fold(delivery, join)).digestId;
  }
  // Due one millisecond after it opened.
  await new Promise((resolve) => setTimeout(resolve, 5));
  return digestId;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('DigestSender', () => {
  it('sends a due digest once, retrying a transient failure with backoff', async () => {
    const { emailer, seen, store, senders } = await setUp();
    const [sender] = senders;
    const id = await heldDigest(store, 3);
    emailer.script.push('transient');

    await sender?.poll();
    expect(emailer.sent).toEqual([]);
    expect(seen.digest_failed).toMatchObject([{ digestId: id, attempt: 1, retryable: true, deadLettered: false }]);
    expect((await store.digest(id))?.status).toBe('closed');
    expect((await store.list({ eventId: `digest:${id}` }))[0]).toMatchObject({ status: 'retrying', attempts: 1 });

    await waitFor(async () => {
      await sender?.poll();
      return emailer.sent.length > 0;
    }, 'the retry');
    expect(emailer.sent).toHaveLength(1);
    expect(emailer.sent[0]).toMatchObject({
      to: ['oncall@example.com'],
      subject: '[Herald] 3 notifications: 3 FAILED',
      idempotencyKey: `digest:${id}/${destination.key}`,
    });
    expect(emailer.sent[0]?.text).toContain('storm/prod/run-2 FAILED');
    expect(seen.digest_sent).toMatchObject([{ digestId: id, rule: 'storm', count: 3 }]);
    expect((await store.digest(id))?.status).toBe('sent');
    expect((await store.list({ eventId: `digest:${id}` }))[0]).toMatchObject({ status: 'delivered', attempts: 2 });

    // Sent is final: later polls send nothing more.
    await sender?.poll();
    expect(emailer.attempts).toHaveLength(2);
  });

  it('dead-letters a digest whose send fails for good, and one out of attempts', async () => {
    const { emailer, seen, store, senders } = await setUp();
    const [sender] = senders;
    const refused = await heldDigest(store, 1, 'refused');
    emailer.script.push('permanent');
    await sender?.poll();
    expect((await store.digest(refused))?.status).toBe('dead-lettered');
    expect((await store.list({ eventId: `digest:${refused}` }))[0]).toMatchObject({
      status: 'dead-lettered',
      lastError: 'recording: address rejected',
    });

    const flaky = await heldDigest(store, 1, 'flaky');
    emailer.fallback = 'transient';
    await waitFor(async () => {
      await sender?.poll();
      return (await store.digest(flaky))?.status === 'dead-lettered';
    }, 'the attempts to run out');
    expect(seen.digest_failed.filter((f) => f.digestId === flaky).map((f) => f.attempt)).toEqual([1, 2, 3]);
    expect((await store.list({ eventId: `digest:${flaky}` }))[0]?.lastError).toBe(
      'gave up after 3 attempts: recording: throttled',
    );
    expect(emailer.sent).toEqual([]);
  });

  it('lets exactly one of two replicas send a digest they both see due', async () => {
    const { emailer, store, senders } = await setUp(2);
    const id = await heldDigest(store, 2);
    emailer.delayMs = 50;
    await Promise.all(senders.map((sender) => sender.poll()));
    await Promise.all(senders.map((sender) => sender.poll()));
    expect(emailer.sent).toHaveLength(1);
    expect((await store.digest(id))?.status).toBe('sent');
  });

  it('closes an empty digest (immediateFirst, nothing after the first) without sending', async () => {
    const { emailer, store, senders } = await setUp();
    const event = sampleEvent({ id: 'alone', execution: { project: 'storm', domain: 'prod', name: 'alone' } });
    const delivery = { eventId: event.id, destination: destination.key, label: 'email to oncall@example.com' };
    await store.claim(delivery, 30_000);
    const { digestId, role } = await store.fold(delivery, {
      groupKey: 'alone',
      rule: 'storm',
      target: JSON.stringify(destination),
      group: {},
      windowMs: 1,
      max: 1_000,
      immediateFirst: true,
      event: JSON.stringify(event),
    });
    expect(role).toBe('first');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await senders[0]?.poll();
    expect((await store.digest(digestId))?.status).toBe('empty');
    expect(emailer.attempts).toEqual([]);
  });
});
