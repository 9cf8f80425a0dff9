/**
 * Storm control as an on-call engineer meets it: a burst of failures folded into a digest, by
 * two replicas on one SQS queue and one PostgreSQL store, and a held digest that outlives the
 * replica holding it. Counted at the receiving end: a Slack webhook and PagerDuty's Events API,
 * both faithful loopback doubles.
 */
import { randomUUID } from 'node:crypto';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStack } from '../helpers/aws.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { postgresDatabase, publishEvents, Scenario, sqsQueue, withPostgres } from './harness.js';

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
    herald: (storeUrl: string, digest: string) => `  store: { url: "${storeUrl}" }
  channels:
    oncall: { type: slack, url: "${server.url}/slack" }
    pager: { type: pagerduty, url: "${server.url}/pagerduty", routingKeyEnvVar: ${ROUTING_KEY_VAR} }
  rules:
    - name: storm
      match: { project: storm, onlyPhases: [FAILED] }
      notify: [oncall, pager]
      digest: ${digest}
`,
  };
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

describe('digests on one SQS queue and one PostgreSQL store', () => {
  let scenario = new Scenario();
  beforeAll(() => {
    process.env[ROUTING_KEY_VAR] = 'digest-test-routing-key';
  });
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('folds 200 failures within a 30 s window into the first and one digest of 199, with two replicas', {
    timeout: 180_000,
  }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(
      await createStack({ herald: receiver.herald(storeUrl, '{ window: 30s, immediateFirst: true }') }),
    );
    await publishEvents(queue, failures(200));
    await Promise.all([scenario.run(queue), scenario.run(queue)]);

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
    expect(
      await count(storeUrl, `select count(distinct owner) as n from attempts where outcome = 'folded'`),
      'replicas that folded',
    ).toBe(2);
  });

  it('sends a held digest once when due, after the replica holding it was killed', { timeout: 180_000 }, async () => {
    const storeUrl = await postgresDatabase(scenario);
    const receiver = await chatAndPager(scenario);
    const queue = sqsQueue(await createStack({ herald: receiver.herald(storeUrl, '{ window: 10s }') }));
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
});
