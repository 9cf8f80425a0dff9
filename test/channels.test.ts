import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecutionEvent, encodeEvent, sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { MemoryQueue, silentLogger } from '@herald/core/runtime';
import { type CodeRule, createProcessor, MemorySource, type Processor, when } from '@herald/processor';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from './helpers/aws.js';
import { herald } from './helpers/cli.js';
import { FakeServices } from './helpers/fake-services.js';

const env = {
  SLACK_URL: '',
  PD_KEY: 'pd-routing-key-123',
  HOOK_SECRET: 'webhook-signing-secret',
  JIRA_EMAIL: 'bot@example.com',
  JIRA_TOKEN: 'jira-token',
};
const jiraAuth = `Basic ${Buffer.from('bot@example.com:jira-token').toString('base64')}`;

let services: FakeServices;
let dir: string;
const running: Processor[] = [];

beforeEach(async () => {
  services = new FakeServices(jiraAuth);
  const base = await services.start();
  env.SLACK_URL = `${base}/slack/services/T0/B0/secret`;
  dir = await mkdtemp(join(tmpdir(), 'herald-channels-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await services.stop();
  await rm(dir, { recursive: true, force: true });
});

function configYaml(): string {
  return `
notifications:
  type: sandbox
  emailer: { sender: herald@example.com, subject: "{{ name }} {{ phase }}" }
herald:
  outbox: { directory: ${join(dir, 'outbox')} }
  processor: { retryBaseDelayMs: 50, retryMaxDelayMs: 200, maxAttempts: 4 }
  channels:
    oncall:
      type: slack
      webhookUrlEnvVar: SLACK_URL
      text: "{{ project }}/{{ name }} {{ phase }}"
      blocks:
        - type: section
          text: { type: mrkdwn, text: "*{{ name }}* {{ phase }}: {{ errorMessage }}" }
    pd:
      type: pagerduty
      routingKeyEnvVar: PD_KEY
      url: ${services.base}/pagerduty/v2/enqueue
    audit:
      type: webhook
      url: ${services.base}/hook
      signingSecretEnvVar: HOOK_SECRET
      headers: { x-team: platform }
      body: { execution: "{{ name }}", phase: "{{ phaseName }}", error: "{{ errorMessage }}" }
    tickets:
      type: jira
      baseUrl: ${services.base}/jira
      project: OPS
      issueType: Incident
      emailEnvVar: JIRA_EMAIL
      apiTokenEnvVar: JIRA_TOKEN
  rules:
    - name: failures-in-x
      match: { onlyPhases: [FAILED, TIMED_OUT], project: x }
      notify: [oncall, pd]
    - name: everything-but-running
      match: { ignorePhases: [RUNNING] }
      notify: [audit]
`;
}

function start(codeRules: CodeRule[] = []) {
  const config = parseConfig(configYaml(), { env });
  const queue = new MemoryQueue(100);
  const source = new MemorySource(queue);
  // Channels read their secrets from the environment, as in production.
  Object.assign(process.env, env);
  const processor = createProcessor(config, { memoryQueue: queue, source, logger: silentLogger, codeRules });
  running.push(processor);
  let acked = 0;
  processor.events.on('message_settled', (e) => {
    if (e.outcome === 'acked') acked++;
  });
  return {
    processor,
    source,
    publish: (event: ExecutionEvent) => queue.send(encodeEvent(event)),
    acked: (n: number) => eventually(async () => expect(acked).toBe(n), 20_000),
  };
}

const execution = { project: 'x', domain: 'production', name: 'run-42' };
const event = (phase: 'FAILED' | 'SUCCEEDED' | 'RUNNING', id: string): ExecutionEvent =>
  sampleEvent({
    id,
    phase,
    execution,
    error: phase === 'FAILED' ? { message: 'OOM "killed"\nat step 3' } : undefined,
    notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
  });

describe('rules and channels, end to end', () => {
  it('FAILED: one Slack post, one PagerDuty trigger, one signed webhook call and the event’s email', async () => {
    const h = start();
    await h.processor.start();
    h.publish(event('FAILED', 'f-1'));
    await h.acked(1);

    const [slack] = services.to('/slack');
    expect(services.to('/slack')).toHaveLength(1);
    expect(slack?.json).toEqual({
      text: 'x/run-42 failed',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*run-42* failed: OOM "killed"\nat step 3' } }],
    });

    const [pd] = services.to('/pagerduty');
    expect(services.to('/pagerduty')).toHaveLength(1);
    expect(pd?.json).toMatchObject({
      routing_key: 'pd-routing-key-123',
      event_action: 'trigger',
      dedup_key: 'herald/x/production/run-42',
      payload: { severity: 'error', source: 'x/production' },
    });

    const [hook] = services.to('/hook');
    expect(services.to('/hook')).toHaveLength(1);
    expect(hook?.json).toEqual({ execution: 'run-42', phase: 'FAILED', error: 'OOM "killed"\nat step 3' });
    expect(hook?.headers['x-team']).toBe('platform');
    const signature = createHmac('sha256', 'webhook-signing-secret')
      .update(hook?.body ?? '')
      .digest('hex');
    expect(hook?.headers['x-herald-signature-256']).toBe(`sha256=${signature}`);

    expect((await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });

  it('SUCCEEDED of the same execution: a PagerDuty resolve with the same dedup key and one webhook call', async () => {
    const h = start();
    await h.processor.start();
    h.publish(event('FAILED', 'f-2'));
    await h.acked(1);
    h.publish(event('SUCCEEDED', 's-2'));
    await h.acked(2);

    const pd = services.to('/pagerduty').map((r) => r.json as { event_action: string; dedup_key: string });
    expect(pd.map((p) => p.event_action)).toEqual(['trigger', 'resolve']);
    expect(pd[1]?.dedup_key).toBe(pd[0]?.dedup_key);
    expect(services.to('/hook')).toHaveLength(2);
    expect(services.to('/slack')).toHaveLength(1);
  });

  it('RUNNING: nothing at all', async () => {
    const h = start();
    await h.processor.start();
    h.publish(event('RUNNING', 'r-1'));
    await h.acked(1);
    expect(services.requests).toEqual([]);
  });

  it('retries a Slack 429 after Retry-After and a webhook 500, sending everything else once', async () => {
    services.script.set('/slack/services/T0/B0/secret', [
      { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' },
    ]);
    services.script.set('/hook', [{ status: 500, body: 'boom' }]);
    const h = start();
    const retries: number[] = [];
    h.processor.events.on('retry_scheduled', (e) => retries.push(e.delayMs));
    await h.processor.start();
    h.publish(event('FAILED', 'f-3'));
    await h.acked(1);

    expect(retries[0]).toBeGreaterThanOrEqual(200); // Retry-After (1 s) capped by retryMaxDelayMs
    expect(services.to('/slack')).toHaveLength(2);
    expect(services.to('/hook')).toHaveLength(2);
    expect(services.to('/pagerduty')).toHaveLength(1);
    expect((await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });

  it('dead-letters a permanent 4xx with its reason while the email to the same event goes out once', async () => {
    services.script.set('/pagerduty/v2/enqueue', [
      { status: 400, body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid' }) },
    ]);
    const h = start();
    await h.processor.start();
    h.publish(event('FAILED', 'f-4'));
    await h.acked(1);

    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({
        kind: 'permanent-failure',
        destination: 'channel:pd',
        reason: 'pagerduty: HTTP 400: {"status":"invalid event","message":"Event object is invalid"}',
      }),
    ]);
    expect(services.to('/pagerduty')).toHaveLength(1);
    expect((await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });

  it('contains an exception in a code rule, retries it, and delivers the rest once', async () => {
    let calls = 0;
    const seen: string[] = [];
    const h = start([
      when(
        (e) => e.phase === 'FAILED' && e.previousPhase === 'RUNNING',
        async (e) => {
          calls++;
          if (calls === 1) throw new Error('user code broke');
          seen.push(e.id);
        },
        'page-me',
      ),
    ]);
    const errors: string[] = [];
    h.processor.events.on('retry_scheduled', (e) => errors.push(e.error));
    await h.processor.start();
    h.publish(event('FAILED', 'f-5'));
    await h.acked(1);
    expect(errors).toEqual(['user code broke']);
    expect(seen).toEqual(['f-5']);
    expect(services.to('/slack')).toHaveLength(1);
  });
});

describe('code rules', () => {
  it('must have names of their own', () => {
    const noop = async () => {};
    expect(() => start([when(() => true, noop, 'same'), when(() => false, noop, 'same')])).toThrow(
      "two code rules are named 'same'",
    );
  });
});

describe('Jira', () => {
  it('creates an issue with the project, type, summary and description, authenticated', async () => {
    const yaml = configYaml().replace('notify: [audit]', 'notify: [tickets]');
    const config = parseConfig(yaml, { env });
    Object.assign(process.env, env);
    const queue = new MemoryQueue(10);
    const processor = createProcessor(config, { memoryQueue: queue, logger: silentLogger });
    running.push(processor);
    const delivered: string[] = [];
    processor.events.on('delivered', (e) => delivered.push(`${e.provider}:${e.providerMessageId}`));
    await processor.start();
    queue.send(encodeEvent(event('FAILED', 'j-1')));
    await eventually(async () => expect(delivered.filter((d) => /^jira:OPS-\d+$/.test(d))).toHaveLength(1));

    const [issue] = services.to('/jira');
    expect(issue?.headers.authorization).toBe(jiraAuth);
    expect(issue?.json).toMatchObject({
      fields: {
        project: { key: 'OPS' },
        issuetype: { name: 'Incident' },
        summary: 'x/production/run-42 failed (core.example.wf)',
      },
    });
    const fields = (issue?.json as { fields?: { description?: string } } | undefined)?.fields;
    expect(fields?.description).toContain('Error: OOM "killed"');
  });
});

describe('herald render and send-test with channels', () => {
  it('render shows every destination without sending, secrets hidden', async () => {
    const file = join(dir, 'herald.yaml');
    await writeFile(file, configYaml());
    const eventFile = join(dir, 'failed.json');
    await writeFile(eventFile, JSON.stringify(event('FAILED', 'render-1')));
    const result = await herald(['render', '--config', file, '--event', eventFile, '--json'], { env });
    expect(result.status).toBe(0);
    const deliveries = JSON.parse(result.stdout) as {
      channel: string;
      url?: string;
      body?: { routing_key?: string };
      headers?: Record<string, string>;
    }[];
    expect(deliveries.map((d) => d.channel)).toEqual(['email', 'slack', 'pagerduty', 'webhook']);
    // The Slack URL is a secret, not read at all; the webhook's is written in the file.
    expect(deliveries[1]?.url).toBe('***');
    expect(deliveries[2]?.body?.routing_key).toBe('***');
    expect(deliveries[3]?.headers?.['X-Herald-Signature-256']).toBe('sha256=***');
    expect(deliveries[3]?.headers?.['x-team']).toBe('***');
    expect(deliveries[3]?.url).toBe(`${services.base}/hook`);
    expect(result.stdout).not.toContain('pd-routing-key-123');
    expect(result.stdout).not.toContain('/slack/services/T0/B0/secret');
    expect(services.requests).toEqual([]);
  });

  it('send-test --channel sends one test message to that channel only', async () => {
    const file = join(dir, 'herald.yaml');
    await writeFile(file, configYaml());
    const result = await herald(['send-test', '--config', file, '--channel', 'oncall'], { env });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^sent to slack 'oncall'/);
    expect(services.requests.map((r) => r.path)).toEqual(['/slack/services/T0/B0/secret']);
  });
});
