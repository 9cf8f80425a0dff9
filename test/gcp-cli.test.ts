import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { sampleEvent } from '@herald/core';
import { describe, expect, it } from 'vitest';
import { eventually } from './helpers/aws.js';
import { finished, herald, root, start, waitForLog } from './helpers/cli.js';
import { FakeSendGrid } from './helpers/fake-sendgrid.js';
import { freePort } from './support/processes.js';

const flyteAdminGcp = join(root, 'packages/core/tests/fixtures/flyteadmin-gcp-sendgrid.yaml');

describe("FlyteAdmin's GCP + SendGrid block, unchanged", () => {
  it('infra up, run and publish against the Pub/Sub emulator deliver through SendGrid', async () => {
    const key = `SG.${randomUUID()}`;
    const sendgrid = new FakeSendGrid(key);
    const env = { SENDGRID_API_KEY: key, HERALD_SENDGRID_BASE_URL: await sendgrid.start() };
    try {
      const up = await herald(['infra', 'up', '--config', flyteAdminGcp]);
      expect(up.status).toBe(0);
      expect(up.stdout).toMatch(
        /subscription\s+flyte-notifications-sub \(to flyte-notifications-dlq after \d+ deliveries\)/,
      );
      // What it cannot do itself: the grants Pub/Sub's own service agent needs to dead-letter.
      expect(up.stdout).toMatch(
        /on Google Cloud, the Pub\/Sub service agent.*roles\/pubsub\.publisher on flyte-notifications-dlq and roles\/pubsub\.subscriber on flyte-notifications-sub/,
      );

      const run = start(['run', '--config', flyteAdminGcp], undefined, env);
      try {
        await waitForLog(run, 'herald processor started');
        const name = `gcp-${randomUUID().slice(0, 6)}`;
        const event = sampleEvent({
          id: randomUUID(),
          execution: { project: 'flytesnacks', domain: 'development', name },
          notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
        });
        const file = join(tmpdir(), `${name}.json`);
        await writeFile(file, JSON.stringify(event));
        const published = await herald(['publish', '--config', flyteAdminGcp, '--event', file]);
        expect(published.status).toBe(0);

        const mine = () => sendgrid.accepted.filter((a) => a.mail.content.some((c) => c.value.includes(name)));
        await eventually(async () => expect(mine()).toHaveLength(1));
        expect(mine()[0]?.mail.subject).toBe('Notice: Execution "core.example.wf" has failed in "development".');
        expect(mine()[0]?.mail.from).toEqual({ email: 'flyte-notifications@company.com' });
      } finally {
        run.kill('SIGTERM');
        expect((await finished(run)).status).toBe(0);
      }
    } finally {
      await sendgrid.stop();
    }
  });

  it('on SIGTERM exits 0 and hands back what it held; a restart delivers the rest, none twice', async () => {
    const key = `SG.${randomUUID()}`;
    const sendgrid = new FakeSendGrid(key);
    sendgrid.delayMs = 300;
    const env = { SENDGRID_API_KEY: key, HERALD_SENDGRID_BASE_URL: await sendgrid.start() };
    try {
      const tag = `term-${randomUUID().slice(0, 6)}`;
      // FlyteAdmin's block plus two in flight, so the stop surely comes mid-way.
      const config = join(tmpdir(), `${tag}.yaml`);
      await writeFile(config, `${await readFile(flyteAdminGcp, 'utf8')}\nherald:\n  processor: { maxInFlight: 2 }\n`);
      expect((await herald(['infra', 'up', '--config', config])).status).toBe(0);
      const file = join(tmpdir(), `${tag}.jsonl`);
      const lines = Array.from({ length: 20 }, (_, i) =>
        JSON.stringify(
          sampleEvent({
            id: randomUUID(),
            execution: { project: 'flytesnacks', domain: 'development', name: `${tag}-${i}` },
            notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
          }),
        ),
      );
      await writeFile(file, `${lines.join('\n')}\n`);
      expect((await herald(['publish', '--config', config, '--event', file])).status).toBe(0);
      const mine = () => sendgrid.accepted.filter((a) => a.mail.content.some((c) => c.value.includes(tag)));

      const first = start(['run', '--config', config], undefined, env);
      await waitForLog(first, 'email delivered');
      first.kill('SIGTERM');
      const stopped = await finished(first);
      expect(stopped.status).toBe(0);
      expect(mine().length).toBeLessThan(20);

      sendgrid.delayMs = 0;
      const second = start(['run', '--config', config], undefined, env);
      try {
        await eventually(
          async () => expect(new Set(mine().map((a) => a.mail.content[0]?.value)).size).toBe(20),
          120_000,
        );
        expect(mine()).toHaveLength(20);
      } finally {
        second.kill('SIGTERM');
        await finished(second);
      }
    } finally {
      await sendgrid.stop();
    }
  });

  it('exits 2 naming the key when the SendGrid API key is missing', async () => {
    const run = start(['run', '--config', flyteAdminGcp], undefined, { SENDGRID_API_KEY: '' });
    const result = await finished(run);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'notifications.emailer.emailServerConfig.apiKeyEnvVar: environment variable SENDGRID_API_KEY is not set',
    );
  });

  it('gives up on an unreachable Pub/Sub after its reconnect attempts, with one clear line', async () => {
    const config = join(tmpdir(), `herald-gcp-${randomUUID()}.yaml`);
    await writeFile(
      config,
      (await readFile(flyteAdminGcp, 'utf8')).replace(
        'notifications:\n',
        'notifications:\n  reconnectAttempts: 1\n  reconnectDelaySeconds: 0\n',
      ),
    );
    const events = join(tmpdir(), `herald-gcp-${randomUUID()}.json`);
    await writeFile(events, JSON.stringify(sampleEvent()));
    // Nothing listens on a port just found free.
    const env = { SENDGRID_API_KEY: 'SG.unused', PUBSUB_EMULATOR_HOST: `127.0.0.1:${await freePort()}` };
    for (const args of [
      ['run', '--config', config],
      ['publish', '--config', config, '--event', events],
    ]) {
      const result = await finished(start(args, undefined, env));
      expect(result.status).toBe(1);
      const plain = result.stderr.split('\n').filter((line) => line !== '' && !line.startsWith('{'));
      expect(plain).toEqual([
        expect.stringMatching(/^herald: cannot reach the Pub\/Sub emulator at 127\.0\.0\.1:\d+ \(2 tries/),
      ]);
      expect(plain[0]?.length).toBeLessThan(300);
    }
  });
});

describe('herald infra up on an existing Pub/Sub subscription', () => {
  it('--dry-run changes nothing; a real run changes only the listed fields; a second run changes nothing', async () => {
    const id = `flyte-${randomUUID().slice(0, 8)}`;
    const projectId = `project-${id}`;
    const pubsub = new PubSub({ projectId });
    try {
      // FlyteAdmin's subscription: a short ack deadline, no dead-letter or retry policy, a label.
      const [topic] = await pubsub.createTopic(id);
      await topic.createSubscription(`${id}-sub`, { ackDeadlineSeconds: 20, labels: { owner: 'flyteadmin' } });
      const subscription = pubsub.subscription(`${id}-sub`);
      const config = join(tmpdir(), `herald-infra-${id}.yaml`);
      await writeFile(
        config,
        `notifications:
  type: gcp
  gcp: { projectId: ${projectId} }
  publisher: { topicName: ${id} }
  processor: { queueName: ${id}-sub }
  emailer:
    sender: ${id}@example.com
    subject: "{{ name }} {{ phase }}"
    body: "<p>{{ name }} {{ phase }}</p>"
    emailServerConfig: { serviceName: sendgrid, apiKeyEnvVar: SENDGRID_API_KEY }
herald:
  gcp: { ackDeadlineSeconds: 60, maxDeliveryAttempts: 7, minimumBackoffSeconds: 1, maximumBackoffSeconds: 2 }
`,
      );

      const plan = await herald(['infra', 'up', '--config', config, '--dry-run']);
      expect(plan.status).toBe(0);
      expect(plan.stdout).toMatch(new RegExp(`pubsub topic\\s+${id}\\s+found \\(unchanged\\)`));
      expect(plan.stdout).toMatch(new RegExp(`pubsub topic\\s+${id}-dlq\\s+would create`));
      expect(plan.stdout).toMatch(new RegExp(`subscription\\s+${id}-dlq-sub \\(keeps dead letters\\)\\s+would create`));
      expect(plan.stdout).toMatch(new RegExp(`subscription\\s+${id}-sub\\s+would change: ackDeadlineSeconds 20 → 60`));
      expect(plan.stdout).toMatch(
        new RegExp(
          `subscription\\s+${id}-sub\\s+would change: deadLetterPolicy \\(none\\) → to ${id}-dlq after 7 deliveries`,
        ),
      );
      expect(plan.stdout).toMatch(/would change: retryPolicy .* → backoff 1s\.\.2s/);
      expect(plan.stdout).toContain('nothing was modified');
      expect((await pubsub.topic(`${id}-dlq`).exists())[0]).toBe(false);
      const [untouched] = await subscription.getMetadata();
      expect(untouched.ackDeadlineSeconds).toBe(20);
      expect(untouched.deadLetterPolicy?.deadLetterTopic ?? '').toBe('');

      const up = await herald(['infra', 'up', '--config', config]);
      expect(up.status).toBe(0);
      expect(up.stdout).toMatch(new RegExp(`subscription\\s+${id}-sub\\s+changed: ackDeadlineSeconds 20 → 60`));
      expect(up.stdout).toMatch(new RegExp(`subscription\\s+${id}-sub\\s+changed: deadLetterPolicy`));
      expect(up.stdout).toMatch(/^2 created, 3 changed, 1 unchanged$/m);
      const [changed] = await subscription.getMetadata();
      expect(changed.ackDeadlineSeconds).toBe(60);
      expect(changed.deadLetterPolicy).toMatchObject({
        deadLetterTopic: `projects/${projectId}/topics/${id}-dlq`,
        maxDeliveryAttempts: 7,
      });
      expect(changed.labels).toEqual({ owner: 'flyteadmin' });

      const again = await herald(['infra', 'up', '--config', config]);
      expect(again.status).toBe(0);
      expect(again.stdout).not.toMatch(/ {2}(created|changed:)/);
      expect(again.stdout).toMatch(/^no changes: 0 created, 0 changed, 4 unchanged$/m);
    } finally {
      await pubsub.close();
    }
  });

  it('--dry-run on a fresh name creates nothing', async () => {
    const id = `herald-dry-${randomUUID().slice(0, 8)}`;
    const projectId = `project-${id}`;
    const config = join(tmpdir(), `herald-infra-${id}.yaml`);
    await writeFile(
      config,
      (await readFile(flyteAdminGcp, 'utf8'))
        .replaceAll('flyte-notifications', id)
        .replace(/projectId: .*/, `projectId: ${projectId}`),
    );
    const plan = await herald(['infra', 'up', '--config', config, '--dry-run']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toMatch(/^dry run: would create 4, would change 0, 0 unchanged; nothing was modified$/m);
    const pubsub = new PubSub({ projectId });
    try {
      const [topics] = await pubsub.getTopics();
      const [subscriptions] = await pubsub.getSubscriptions();
      expect([...topics, ...subscriptions]).toEqual([]);
    } finally {
      await pubsub.close();
    }
  });
});
