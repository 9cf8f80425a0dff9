import { randomUUID } from 'node:crypto';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack } from '../helpers/aws.js';
import { createGcpStack } from '../helpers/gcp.js';
import { account, type Tally } from './figures.js';
import {
  DeadLetters,
  flakyWebhook,
  type HeraldRun,
  params,
  postgresDatabase,
  publishEvents,
  pubSubQueue,
  readDeliveryLog,
  record,
  Scenario,
  type ScenarioQueue,
  settle,
  slowSmtp,
  sqsQueue,
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

/** Each transport the scenario runs on: how it makes the shared queue, and its row in the figures. */
interface Transport {
  name: string;
  figures: string;
  /** Events published, each with three destinations. */
  events: number;
  /**
   * A fresh queue whose Herald config emails through `emailServerConfig` and has `herald` (keys
   * of the `herald:` block, indented by two spaces), 16 messages in flight per replica.
   */
  queue(scenario: Scenario, emailServerConfig: string, herald: string): Promise<ScenarioQueue>;
}

const TRANSPORTS: Transport[] = [
  {
    name: 'SQS',
    figures: '5a two replicas on SQS, one PostgreSQL store',
    events: params.replicaEvents.sqs,
    queue: async (_scenario, emailServerConfig, herald) =>
      sqsQueue(await createStack({ emailServerConfig, maxInFlight: 16, herald })),
  },
  {
    name: 'Pub/Sub',
    figures: '5b two replicas on Pub/Sub, one PostgreSQL store',
    events: params.replicaEvents.pubsub,
    queue: async (scenario, emailServerConfig, herald) =>
      pubSubQueue(scenario, await createGcpStack(emailServerConfig, {}, herald, { maxInFlight: 16 })),
  },
];

/**
 * How long the queue may take to settle: the deliveries themselves (about 0.2 s per event on
 * moto's SQS, the slower emulator, on two cores), plus one claim's lease. A copy of a message
 * received while another copy holds one of its deliveries comes back no sooner than that lease
 * (delivery timeout + 30 s: 60 s on the SQS stack), and moto sometimes hands one message to
 * both replicas at once.
 */
function settleTimeoutMs(events: number): number {
  return 90_000 + 250 * events;
}

describe.each(TRANSPORTS)('two herald run replicas on one $name queue and one PostgreSQL store', (transport) => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  // Setting up (stack, database) and stopping take well under a minute beyond settling.
  const timeout = settleTimeoutMs(transport.events) + 60_000;
  it('delivers every destination exactly once, one of them failing twice per event first', { timeout }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const smtp = await slowSmtp(scenario, 30);
    const webhook = await flakyWebhook(scenario, WEBHOOK_FAILURES);
    const queue = await transport.queue(
      scenario,
      smtp.emailServerConfig,
      `  store: { url: "${storeUrl}" }
  channels:
    hook: { type: webhook, url: "${webhook.url}" }
`,
    );
    const events = threeDestinationEvents(transport.events);
    const published = events.flatMap((e) => [...GROUPS.map((g) => `${e.id}/${g}`), `${e.id}/hook`]);
    await publishEvents(queue, events);
    // What "settled" means below is seen to be false while the whole backlog waits.
    expect(await queue.settled(), 'the queue holds the published events').toBe(false);

    const replicas = [await scenario.run(queue), await scenario.run(queue)];
    const deadLetters = new DeadLetters(queue);
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
    const { tally, inTime } = await settle(queue, count, { timeoutMs: settleTimeoutMs(events.length) });
    const durationMs = scenario.elapsedMs();

    const calls = [...webhook.calls.values()];
    const sent = replicas.map((run) => deliveredLines(run, 'email') + deliveredLines(run, 'webhook'));
    const log = await readDeliveryLog(storeUrl);
    await record({
      scenario: transport.figures,
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
