import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  CreateTopicCommand,
  GetSubscriptionAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { sampleEvent } from '@herald/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createStack, emailsFrom, eventually, sendRaw, sentEmails } from './helpers/aws.js';
import { type CliResult, finished, herald, start, waitForLog } from './helpers/cli.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { freePort } from './support/processes.js';

async function eventsFile(names: string[]): Promise<string> {
  const file = join(tmpdir(), `herald-events-${randomUUID()}.jsonl`);
  const lines = names.map((name) =>
    JSON.stringify(
      sampleEvent({
        id: randomUUID(),
        execution: { project: 'p', domain: 'd', name },
        notifications: [{ phases: ['FAILED'], email: { recipients: [`${name}@example.com`] } }],
      }),
    ),
  );
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * Runs `herald run` against a slow SES (300 ms per call), so the processor is surely in the
 * middle of its work, and sends it `signal` right after its first delivery.
 */
async function interruptMidBatch(configFile: string, signal: NodeJS.Signals): Promise<CliResult> {
  const slow = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
  slow.delayMs = 300;
  const endpoint = await slow.start();
  const run = start(['run', '--config', configFile], undefined, { AWS_ENDPOINT_URL_SESV2: endpoint });
  try {
    await waitForLog(run, 'email delivered');
    run.kill(signal);
    return await finished(run);
  } finally {
    await slow.stop();
  }
}

describe('herald on AWS, as an operator runs it', () => {
  it('infra up, run, publish: the email arrives and a malformed message ends in the DLQ', async () => {
    const stack = await createStack();
    const up = await herald(['infra', 'up', '--config', stack.configFile]);
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/sqs queue\s+herald-\w+-dlq\s+found/);
    expect(up.stdout).toMatch(/subscription\s+.*found/);

    const run = start(['run', '--config', stack.configFile]);
    try {
      await waitForLog(run, 'herald processor started');
      await sendRaw(stack, 'this is not an event {');
      const published = await herald([
        'publish',
        '--config',
        stack.configFile,
        '--event',
        await eventsFile(['cli-1', 'cli-2']),
      ]);
      expect(published.status).toBe(0);
      expect(published.stdout.trim().split('\n')).toHaveLength(2);
      await eventually(async () =>
        expect((await emailsFrom(stack)).map((m) => m.subject).sort()).toEqual(['cli-1 failed', 'cli-2 failed']),
      );
      await waitForLog(run, '"kind":"undecodable"');
    } finally {
      run.kill('SIGTERM');
    }
    expect((await finished(run)).status).toBe(0);
  });

  it('loses nothing when the processor is killed mid-batch and restarted', async () => {
    // Two in flight against a slow SES: when the first email is out, most are still waiting.
    const stack = await createStack({ maxInFlight: 2 });
    const names = Array.from({ length: 30 }, (_, i) => `kill-${i}`);
    await herald(['publish', '--config', stack.configFile, '--event', await eventsFile(names)]);

    await interruptMidBatch(stack.configFile, 'SIGKILL');
    const deliveredBeforeKill = new Set((await emailsFrom(stack)).map((m) => m.subject)).size;
    expect(deliveredBeforeKill).toBeLessThan(10);

    const second = start(['run', '--config', stack.configFile]);
    try {
      await eventually(async () => {
        const subjects = new Set((await emailsFrom(stack)).map((m) => m.subject));
        expect(subjects.size).toBe(30);
      }, 120_000);
    } finally {
      second.kill('SIGTERM');
      await finished(second);
    }
  });

  it('on SIGTERM finishes or hands back what it holds, exits 0, and a restart delivers the rest', async () => {
    const stack = await createStack({ maxInFlight: 2 });
    const names = Array.from({ length: 20 }, (_, i) => `term-${i}`);
    await herald(['publish', '--config', stack.configFile, '--event', await eventsFile(names)]);

    const result = await interruptMidBatch(stack.configFile, 'SIGTERM');
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('herald processor stopped');
    expect(new Set((await emailsFrom(stack)).map((m) => m.subject)).size).toBeLessThan(10);

    const second = start(['run', '--config', stack.configFile]);
    try {
      await eventually(async () => {
        const sent = await emailsFrom(stack);
        expect(new Set(sent.map((m) => m.subject)).size).toBe(20);
        // A graceful stop settles what it finished: nothing is sent twice.
        expect(sent).toHaveLength(20);
      }, 120_000);
    } finally {
      second.kill('SIGTERM');
      await finished(second);
    }
  });

  it('says not ready while SQS cannot be reached, and ready again once it can', async () => {
    const stack = await createStack();
    const port = await freePort();
    const sqs = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
    sqs.mode = 'reset';
    const endpoint = await sqs.start();
    const configFile = join(tmpdir(), `herald-ready-${randomUUID()}.yaml`);
    const yaml = (await readFile(stack.configFile, 'utf8'))
      .replace('herald:\n', `herald:\n  http: { listen: "127.0.0.1:${port}" }\n`)
      .replace('aws: { waitTimeSeconds', `aws: { endpoint: "${endpoint}", waitTimeSeconds`);
    await writeFile(configFile, yaml);
    const run = start(['run', '--config', configFile]);
    const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    try {
      await waitForLog(run, 'http server listening');
      expect(await readyz()).toBe(200);
      sqs.failures = Number.POSITIVE_INFINITY;
      await eventually(async () => expect(await readyz()).toBe(503), 90_000);
      sqs.failures = 0;
      await eventually(async () => expect(await readyz()).toBe(200), 90_000);
    } finally {
      run.kill('SIGTERM');
      await finished(run);
      await sqs.stop();
    }
  });
});

/** A config for `herald infra up` on topic and queue `id`, with a 60 s visibility timeout. */
async function infraConfig(id: string, account: string): Promise<string> {
  const file = join(tmpdir(), `herald-infra-${id}.yaml`);
  await writeFile(
    file,
    `notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:${account}:${id}" }
  processor: { queueName: ${id}, accountId: "${account}" }
  emailer:
    sender: ${id}@example.com
    subject: "{{ name }} {{ phase }}"
    body: "<p>Execution <b>{{ name }}</b> {{ phase }}.</p>"
herald:
  processor: { retryBaseDelayMs: 1000, retryMaxDelayMs: 2000, shutdownGraceMs: 5000 }
  aws: { waitTimeSeconds: 1, visibilityTimeoutSeconds: 60 }
`,
  );
  return file;
}

describe("herald infra up on an existing deployment (FlyteAdmin's topic, queue and subscription)", () => {
  const sns = new SNSClient({ region: 'us-east-1' });
  const sqs = new SQSClient({ region: 'us-east-1' });
  afterAll(() => {
    sns.destroy();
    sqs.destroy();
  });

  const queueAttributes = async (url: string) =>
    (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
  const statementIds = async (url: string) =>
    (
      JSON.parse((await queueAttributes(url)).Policy ?? '{"Statement":[]}') as { Statement: { Sid?: string }[] }
    ).Statement.map((s) => s.Sid);

  it("keeps the envelope subscription and the operator's statement, adds only what is missing, and lists each change", async () => {
    // Arrange what FlyteAdmin's Terraform would have made: topic, queue with an operator's
    // policy statement and a 30 s visibility timeout, and a subscription without raw delivery.
    const id = `flyte-${randomUUID().slice(0, 8)}`;
    const topicArn = (await sns.send(new CreateTopicCommand({ Name: id }))).TopicArn ?? '';
    const account = topicArn.split(':')[4] ?? '';
    const queueUrl =
      (await sqs.send(new CreateQueueCommand({ QueueName: id, Attributes: { VisibilityTimeout: '30' } }))).QueueUrl ??
      '';
    const queueArn = (await queueAttributes(queueUrl)).QueueArn ?? '';
    const operator = {
      Sid: 'operator-read',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${account}:root` },
      Action: 'sqs:ReceiveMessage',
      Resource: queueArn,
    };
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: { Policy: JSON.stringify({ Version: '2012-10-17', Statement: [operator] }) },
      }),
    );
    const subscriptionArn =
      (
        await sns.send(
          new SubscribeCommand({
            TopicArn: topicArn,
            Protocol: 'sqs',
            Endpoint: queueArn,
            ReturnSubscriptionArn: true,
          }),
        )
      ).SubscriptionArn ?? '';
    const rawDelivery = async () =>
      (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: subscriptionArn }))).Attributes
        ?.RawMessageDelivery;
    expect(await rawDelivery()).not.toBe('true');
    const config = await infraConfig(id, account);

    // A dry run tells what would change and changes nothing.
    const plan = await herald(['infra', 'up', '--config', config, '--dry-run']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`sqs queue\\s+${id}\\s+would change: VisibilityTimeout 30 → 60`));
    expect(plan.stdout).toMatch(
      /queue policy\s+.*would change: statement herald-sns-to-sqs added \(1 other statement kept\)/,
    );
    expect(plan.stdout).toContain('nothing was modified');
    expect((await queueAttributes(queueUrl)).VisibilityTimeout).toBe('30');
    expect((await queueAttributes(queueUrl)).RedrivePolicy).toBeUndefined();
    expect(await statementIds(queueUrl)).toEqual(['operator-read']);

    const up = await herald(['infra', 'up', '--config', config]);
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(new RegExp(`sns topic\\s+${topicArn}\\s+found \\(unchanged\\)`));
    expect(up.stdout).toMatch(new RegExp(`sqs queue\\s+${id}-dlq\\s+created`));
    expect(up.stdout).toMatch(new RegExp(`sqs queue\\s+${id}\\s+changed: VisibilityTimeout 30 → 60`));
    expect(up.stdout).toMatch(
      new RegExp(`sqs queue\\s+${id}\\s+changed: RedrivePolicy \\(none\\) → to ${id}-dlq after \\d+ receives`),
    );
    expect(up.stdout).toMatch(/queue policy\s+.*changed: statement herald-sns-to-sqs added \(1 other statement kept\)/);
    expect(up.stdout).toMatch(
      new RegExp(`subscription\\s+${id} -> ${id}\\s+kept as is: envelope delivery, which Herald reads`),
    );
    expect(up.stdout).toMatch(/ 3 changed, /);

    expect(await rawDelivery()).not.toBe('true');
    expect(await statementIds(queueUrl)).toEqual(['operator-read', 'herald-sns-to-sqs']);
    expect((await queueAttributes(queueUrl)).VisibilityTimeout).toBe('60');
    const subscriptions = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
    expect(subscriptions.Subscriptions?.filter((s) => s.Endpoint === queueArn)).toHaveLength(1);

    const again = await herald(['infra', 'up', '--config', config]);
    expect(again.status).toBe(0);
    expect(again.stdout).not.toMatch(/ {2}(created|changed:)/);
    expect(again.stdout).toMatch(/^no changes: 0 created, 0 changed, \d+ unchanged$/m);
    expect(again.stdout).toMatch(/queue policy\s+.*found \(unchanged\): statement herald-sns-to-sqs allows it/);
    expect(await statementIds(queueUrl)).toEqual(['operator-read', 'herald-sns-to-sqs']);

    // Herald reads the envelope the subscription still delivers.
    const run = start(['run', '--config', config]);
    try {
      await waitForLog(run, 'herald processor started');
      expect((await herald(['publish', '--config', config, '--event', await eventsFile([id])])).status).toBe(0);
      await eventually(async () =>
        expect((await sentEmails()).filter((m) => m.from === `${id}@example.com`).map((m) => m.subject)).toEqual([
          `${id} failed`,
        ]),
      );
    } finally {
      run.kill('SIGTERM');
      await finished(run);
    }
  });

  it('--dry-run on a fresh name prints the plan and creates nothing', async () => {
    const id = `herald-dry-${randomUUID().slice(0, 8)}`;
    const probe = (await sns.send(new CreateTopicCommand({ Name: `${id}-probe` }))).TopicArn ?? '';
    const config = await infraConfig(id, probe.split(':')[4] ?? '');

    const plan = await herald(['infra', 'up', '--config', config, '--dry-run']);
    expect(plan.status).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`sns topic\\s+arn:aws:sns:us-east-1:\\d+:${id}\\s+would create`));
    expect(plan.stdout).toMatch(new RegExp(`sqs queue\\s+${id}-dlq\\s+would create`));
    expect(plan.stdout).toMatch(
      new RegExp(`sqs queue\\s+${id} \\(to ${id}-dlq after \\d+ receives\\)\\s+would create`),
    );
    expect(plan.stdout).toMatch(/queue policy\s+.*would create/);
    expect(plan.stdout).toMatch(new RegExp(`subscription\\s+${id} -> ${id}\\s+would create: raw delivery`));
    expect(plan.stdout).toMatch(/ses identity\s+.*would create/);
    expect(plan.stdout).toMatch(/^dry run: would create 6, would change 0, 0 unchanged; nothing was modified$/m);

    const topics: string[] = [];
    let token: string | undefined;
    do {
      const page = await sns.send(new ListTopicsCommand({ NextToken: token }));
      topics.push(...(page.Topics ?? []).map((t) => t.TopicArn ?? ''));
      token = page.NextToken;
    } while (token);
    expect(topics.filter((arn) => arn.endsWith(`:${id}`))).toEqual([]);
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: id }))).QueueUrls ?? []).toEqual([]);
    const ses = new SESv2Client({ region: 'us-east-1' });
    try {
      await expect(ses.send(new GetEmailIdentityCommand({ EmailIdentity: `${id}@example.com` }))).rejects.toThrow();
    } finally {
      ses.destroy();
    }
  });
});
