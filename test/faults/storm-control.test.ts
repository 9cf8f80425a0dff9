/**
 * Storm control as an on-call engineer meets it: a burst of failures folded into a digest, by
 * two replicas on one SQS queue and one PostgreSQL store; a held digest that outlives the
 * replica holding it; an execution that never ends; a rate limit and a send-once key, both
 * across two replicas. Counted at the receiving end: a Slack webhook and PagerDuty's Events API,
 * both faithful loopback doubles.
 */
import { randomUUID } from 'node:crypto';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStack } from '../helpers/aws.js';
import { createGcpStack } from '../helpers/gcp.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { postgresDatabase, publishEvents, pubSubQueue, Scenario, slowSmtp, sqsQueue, withPostgres } from './harness.js';

const ROUTING_KEY_VAR = 'HERALD_DIGEST_TEST_ROUTING_KEY';

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** Slack's incoming webhook (`ok`) and PagerDuty's Events API v2 (202 with the dedup key). */
async function chatAndPager(scenario: Scenario) {
  const received: Received[] = [];
  const server = await listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      received.push({ path: req.url ?? '', body });
      if (req.url === '/pagerduty') {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: body.dedup_key }));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    });
  });
  scenario.defer(() => server.stop());
  return {
    slack: () => received.filter((r) => r.path === '/slack').map((r) => String(r.body.text)),
    pagerDuty: () => received.filter((r) => r.path === '/pagerduty').map((r) => r.body),
    /** The `herald:` block: the store, both channels, and one rule notifying both with `extra` (YAML). */
    herald: (storeUrl: string, extra: string) => `  store: { url: "${storeUrl}" }
  channels:
    oncall: { type: slack, url: "${server.url}/slack" }
    pager: { type: pagerduty, url: "${server.url}/pagerduty", routingKeyEnvVar: ${ROUTING_KEY_VAR} }
  rules:
    - name: storm
      match: { project: storm, onlyPhases: [FAILED] }
      notify: [oncall, pager]
      ${extra}
`,
  };
}

function event(name: string, phase: ExecutionEvent['phase']): ExecutionEvent {
  return sampleEvent({ id: randomUUID(), phase, execution: { project: 'storm', domain: 'production', name } });
}

function failures(count: number): ExecutionEvent[] {
  return Array.from({ length: count }, (_, i) =>
    sampleEvent({ id: randomUUID(), execution: { project: 'storm', domain: 'production', name: `storm-${i}` } }),
  );
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Long enough for a digest poll (every second) to have sent anything more it was going to. */
const QUIET_MS = 4_000;

async function count(storeUrl: string, query: string): Promise<number> {
  return withPostgres(storeUrl, async (client) => Number((await client.query(query)).rows[0]?.n ?? 0));
}

describe('storm control on one SQS queue and one PostgreSQL store', () => {
  let scenario = new Scenario();
  beforeAll(() => {
    process.env[ROUTING_KEY_VAR] = 'digest-test-routing-key';
  });
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  /** A queue of either transport whose `herald run`s use `herald` as their config's `herald:` block. */
  const transports = [
    { name: 'SQS', queue: async (herald: string) => sqsQueue(await createStack({ herald })) },
    {
      name: 'Pub/Sub',
      queue: async (herald: string) => {
        // Pub/Sub asks for an emailer; nothing here sends email. Few messages in flight each,
        // or the first replica to connect leases the whole backlog before the second starts.
        const smtp = await slowSmtp(scenario, 0);
        return pubSubQueue(scenario, await createGcpStack(smtp.emailServerConfig, {}, herald, { maxInFlight: 4 }));
      },
    },
  ];

  it.each(transports)(
    'folds 200 failures within a 30 s window into the first and one digest of 199, with two replicas on $name',
    {
      timeout: 180_000,
    },
    async (transport) => {
      const storeUrl = await postgresDatabase(scenario);
      const receiver = await chatAndPager(scenario);
      const queue = await transport.queue(receiver.herald(storeUrl, 'digest: { window: 30s, immediateFirst: true }'));
      // Both replicas listen before the storm starts, so both take part.
      await Promise.all([scenario.run(queue), scenario.run(queue)]);
      await publishEvents(queue, failures(200));

      await waitUntil(() => receiver.slack().length >= 2, 'the digest in Slack', 120_000);
      await waitUntil(() => queue.settled(), 'the queue to settle', 60_000);
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

      const slack = receiver.slack();
      expect(slack, 'Slack messages').toHaveLength(2);
      expect(slack[0]).toContain('storm/production/storm-');
      expect(slack[1]).toContain('199 notifications: 199 FAILED');
      expect(slack[1]).toContain('… and 149 more');

      // One incident: the first trigger and the digest's share the group's dedup key.
      const pages = receiver.pagerDuty();
      expect(pages.map((p) => p.event_action)).toEqual(['trigger', 'trigger']);
      expect(new Set(pages.map((p) => p.dedup_key)).size).toBe(1);
      const details = (pages[1]?.payload as { custom_details?: { count?: number } } | undefined)?.custom_details;
      expect(details?.count).toBe(199);

      // Nothing hidden: every folded notification is in the log with its digest, and both
      // replicas folded some.
      expect(
        await count(storeUrl, `select count(*) as n from deliveries where status = 'folded' and digest_id is not null`),
      ).toBe(2 * 199);
      expect(await count(storeUrl, `select count(*) as n from digests where status = 'sent'`)).toBe(2);
      // On SQS both replicas fold some. The Pub/Sub emulator may stream the whole backlog to
      // the first subscriber that keeps up (folding takes a millisecond), so there the counts
      // above are what shows the replicas agree: one digest sent, by one of them.
      const folders = await count(storeUrl, `select count(distinct owner) as n from attempts where outcome = 'folded'`);
      if (transport.name === 'SQS') expect(folders, 'replicas that folded').toBe(2);
      else expect(folders, 'replicas that folded').toBeGreaterThanOrEqual(1);
    },
  );

  it('sends a held digest once when due, after the replica holding it was killed', { timeout: 180_000 }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(await createStack({ herald: receiver.herald(storeUrl, 'digest: { window: 20s }') }));
    const first = await scenario.run(queue);
    await publishEvents(queue, failures(20));
    await waitUntil(
      async () => (await count(storeUrl, `select count(*) as n from deliveries where status = 'folded'`)) === 40,
      'the events to be folded',
      60_000,
    );
    expect(receiver.slack(), 'nothing sent while the window is open').toEqual([]);
    await scenario.kill(first);

    await scenario.run(queue);
    await waitUntil(() => receiver.slack().length >= 1, 'the digest in Slack', 60_000);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const slack = receiver.slack();
    expect(slack).toHaveLength(1);
    expect(slack[0]).toContain('20 notifications: 20 FAILED');
    expect(receiver.pagerDuty()).toHaveLength(1);
  });

  it('alerts once for an execution still running after expect.within, never for one that ended', {
    timeout: 120_000,
  }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(await createStack({ herald: receiver.herald(storeUrl, 'expect: { within: 5s }') }));
    await scenario.run(queue);
    await publishEvents(queue, [event('stuck', 'RUNNING'), event('quick', 'RUNNING'), event('quick', 'SUCCEEDED')]);

    await waitUntil(() => receiver.slack().length >= 1, 'the still-running alert', 60_000);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const slack = receiver.slack();
    expect(slack).toHaveLength(1);
    expect(slack[0]).toContain('storm/production/stuck still RUNNING after 5s');
    // PagerDuty: quick's success resolves an alert that never was (harmless, as its API says);
    // stuck's alert is a trigger under the execution's own key.
    const stuckKey = 'herald/storm/production/stuck';
    const triggers = receiver.pagerDuty().filter((p) => p.event_action === 'trigger');
    expect(triggers.map((p) => p.dedup_key)).toEqual([stuckKey]);

    // It ends after all: its success resolves the alert its overdue run raised.
    await publishEvents(queue, [event('stuck', 'SUCCEEDED')]);
    await waitUntil(
      () => receiver.pagerDuty().some((p) => p.event_action === 'resolve' && p.dedup_key === stuckKey),
      'the resolve',
      30_000,
    );
    expect(receiver.slack()).toHaveLength(1);
    // quick's watches (Slack, PagerDuty) met in time; stuck's were sent.
    const watches = (status: string) =>
      count(storeUrl, `select count(*) as n from digests where kind = 'overdue' and status = '${status}'`);
    expect([await watches('met'), await watches('sent')]).toEqual([2, 2]);
  });

  it('sends at most max per period to a destination and the rest in one digest per period, with two replicas', {
    timeout: 150_000,
  }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(await createStack({ herald: receiver.herald(storeUrl, 'rateLimit: { max: 5, per: 20s }') }));
    const published = failures(30);
    await publishEvents(queue, published);
    await Promise.all([scenario.run(queue), scenario.run(queue)]);
    await waitUntil(() => queue.settled(), 'the queue to settle', 60_000);
    // Whatever was held back goes out when its period ends (20 s at most).
    await waitUntil(
      async () => (await count(storeUrl, `select count(*) as n from digests where status = 'open'`)) === 0,
      'the held-back digests to be sent',
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

    const slack = receiver.slack();
    const digests = slack.filter((text) => text.includes('held back by the rate limit'));
    const single = slack.filter((text) => !digests.includes(text));
    // Every event reached the channel exactly once: on its own, or listed in one digest.
    const names = [
      ...single.map((text) => /storm\/production\/(storm-\d+)/.exec(text)?.[1]),
      ...digests.flatMap((text) => [...text.matchAll(/• storm\/production\/(storm-\d+)/g)].map((m) => m[1])),
    ];
    expect(names.sort()).toEqual(published.map((e) => e.execution.name).sort());
    // At most 5 a period; the 30 events arrive within one or two periods.
    expect(single.length).toBeGreaterThanOrEqual(5);
    expect(single.length).toBeLessThanOrEqual(10);
    expect(digests.length).toBeGreaterThanOrEqual(1);
    expect(digests.length).toBeLessThanOrEqual(2);
  });

  it('sends a oncePer key once, whichever replica and however many events carry it', { timeout: 120_000 }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(
      await createStack({ herald: receiver.herald(storeUrl, `oncePer: "{{ execution.name }}-{{ phase }}"`) }),
    );
    // The same failure reported eight times (two publishers, retries), and one other execution.
    const repeats = Array.from({ length: 8 }, () => event('flaky', 'FAILED'));
    await publishEvents(queue, [...repeats, event('other', 'FAILED')]);
    await Promise.all([scenario.run(queue), scenario.run(queue)]);
    await waitUntil(() => queue.settled(), 'the queue to settle', 60_000);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));

    const slack = receiver.slack();
    expect(slack.filter((text) => text.includes('storm/production/flaky'))).toHaveLength(1);
    expect(slack.filter((text) => text.includes('storm/production/other'))).toHaveLength(1);
    expect(receiver.pagerDuty().filter((p) => String(p.dedup_key).endsWith('/flaky'))).toHaveLength(1);
    // The other seven are in the log, suppressed, for each destination.
    expect(
      await count(storeUrl, `select count(*) as n from deliveries where status = 'suppressed' and name = 'flaky'`),
    ).toBe(2 * 7);
  });
});
