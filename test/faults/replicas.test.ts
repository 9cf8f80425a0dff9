import { randomUUID } from 'node:crypto';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack } from '../helpers/aws.js';
import { account, type Tally } from './figures.js';
import {
  DeadLetters,
  flakyWebhook,
  type HeraldRun,
  params,
  postgresDatabase,
  publishEvents,
  readDeliveryLog,
  record,
  Scenario,
  settle,
  slowSmtp,
} from './harness.js';

/** The two email groups every event notifies, each its own destination. */
const GROUPS = ['a', 'b'] as const;
/** Calls the webhook fails (503) for each event before it answers 204. */
const WEBHOOK_FAILURES = 2;

/**
 * `count` FAILED events, each with three destinations: `<id>.a@example.com`,
 * `<id>.b@example.com` (two emails) and the `hook` webhook channel.
 */
function threeDestinationEvents(count: number): ExecutionEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const id = randomUUID();
    return sampleEvent({
      id,
      execution: { project: 'faults', domain: 'ci', name: `replicas-${i}` },
      notifications: [
        // Herald sends one email per set of templates, to all its recipients: group b has its
        // own subject, so each group is an email (a destination) of its own.
        { phases: ['FAILED' as const], email: { recipients: [`${id}.a@example.com`] } },
        {
          phases: ['FAILED' as const],
          email: { recipients: [`${id}.b@example.com`], subject: '{{ name }} {{ phase }} (group b)' },
        },
        { phases: ['FAILED' as const], webhook: { channel: 'hook' } },
      ],
    });
  });
}

/** `<id>.a` (an address without `@example.com`) → `<id>/a`: one key per (event, destination). */
function deliveryKeyOf(local: string): string {
  const match = /^(.+)\.([a-z]+)$/.exec(local);
  return match ? `${match[1]}/${match[2]}` : local;
}

function deliveredLines(run: HeraldRun, channel: string): number {
  return run.child.output.stderr.split('\n').filter((line) => line.includes(`"${channel} delivered"`)).length;
}

describe('two herald run replicas on one queue and one PostgreSQL store', () => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('delivers every destination exactly once, one of them failing twice per event first', async () => {
    const storeUrl = await postgresDatabase(scenario);
    const smtp = await slowSmtp(scenario, 30);
    const webhook = await flakyWebhook(scenario, WEBHOOK_FAILURES);
    const stack = await createStack({
      emailServerConfig: smtp.emailServerConfig,
      maxInFlight: 16,
      herald: `  store: { url: "${storeUrl}" }
  channels:
    hook: { type: webhook, url: "${webhook.url}" }
`,
    });
    const events = threeDestinationEvents(params.replicaEvents);
    const published = events.flatMap((e) => [...GROUPS.map((g) => `${e.id}/${g}`), `${e.id}/hook`]);
    await publishEvents(stack, events);

    const replicas = [await scenario.run(stack), await scenario.run(stack)];
    const deadLetters = new DeadLetters(stack);
    const count = async (): Promise<Tally> => {
      await deadLetters.collect();
      const received = [
        ...(await smtp.receivedIds()).map(deliveryKeyOf),
        ...webhook.successIds().map((id) => `${id}/hook`),
      ];
      // A dead letter names its event; any of its destinations would count as accounted for.
      const dead = new Set(deadLetters.eventIds());
      return account(
        published,
        received,
        published.filter((key) => dead.has(key.split('/')[0] ?? '')),
      );
    };
    const { tally, inTime } = await settle(stack, count, { timeoutMs: 120_000 });
    const durationMs = scenario.elapsedMs();

    const calls = [...webhook.calls.values()];
    const sent = replicas.map((run) => deliveredLines(run, 'email') + deliveredLines(run, 'webhook'));
    const log = await readDeliveryLog(storeUrl);
    await record({
      scenario: '5 two replicas, one PostgreSQL store',
      ...tally,
      durationMs,
      notes:
        `${events.length} events × 3 destinations, counted per destination; SMTP ×2 + webhook 503 ×${WEBHOOK_FAILURES} per event; ` +
        `replicas sent ${sent.join(' + ')}; ${calls.reduce((a, b) => a + b, 0)} webhook calls`,
    });

    expect(tally.lostKeys, 'destinations neither delivered nor dead-lettered').toEqual([]);
    expect(tally.unexpected, 'deliveries to destinations nobody published').toEqual([]);
    expect(tally.duplicated, 'destinations delivered more than once').toBe(0);
    expect(deadLetters.records, 'dead letters').toEqual([]);
    expect(inTime, 'the queue emptied').toBe(true);
    // The transient failures happened as scripted: three calls per event, the third answered.
    expect(calls.length).toBe(events.length);
    expect(
      calls.every((n) => n === WEBHOOK_FAILURES + 1),
      'webhook calls per event',
    ).toBe(true);
    // Both replicas took part, or this proved nothing about replicas.
    expect(
      sent.every((n) => n > 0),
      `deliveries per replica: ${sent.join(', ')}`,
    ).toBe(true);
    // The log agrees with the receiving end: every destination delivered, none left pending.
    expect(log).toHaveLength(published.length);
    expect(log.filter((row) => row.status !== 'delivered')).toEqual([]);
    expect(log.filter((row) => row.destination === 'channel:hook').every((row) => row.attempts === 3)).toBe(true);
  });
});
