import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Message, PubSub } from '@google-cloud/pubsub';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, emailsFrom, eventually, queueIsEmpty } from './helpers/aws.js';
import { finished, herald, start, waitForLog } from './helpers/cli.js';
import { FakeSendGrid } from './helpers/fake-sendgrid.js';
import { FakeServices } from './helpers/fake-services.js';
import { createGcpStack } from './helpers/gcp.js';

/** What `herald dead-letters list --json` prints for each dead letter (the fields checked here). */
interface Listed {
  id: string;
  kind: string | null;
  reason: string | null;
  eventId: string | null;
  destination: string | null;
  sentAt: string | null;
  attributes: Record<string, string>;
  body: string;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A webhook receiver that answers 503 while `down`, and counts the calls it accepted. */
async function hookReceiver(): Promise<{
  services: FakeServices;
  down: (on: boolean) => void;
  accepted: () => number;
}> {
  const services = new FakeServices('unused');
  await services.start();
  cleanups.push(() => services.stop());
  let refused = 0;
  const down = (on: boolean) => {
    if (on) {
      services.script.set(
        '/hook',
        Array.from({ length: 1000 }, () => ({ status: 503, body: 'down for maintenance' })),
      );
    } else {
      refused += refusing();
      services.script.delete('/hook');
    }
  };
  const refusing = () => 1000 - (services.script.get('/hook')?.length ?? 1000);
  return { services, down, accepted: () => services.to('/hook').length - refused - refusing() };
}

/** `herald.*` YAML (two-space indent) for a delivery log in a fresh directory and one webhook channel on every FAILED. */
async function storeAndHook(hookBase: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-dlq-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return `  store: { url: "sqlite:${join(dir, 'herald.db')}" }
  channels:
    hook:
      type: webhook
      url: ${hookBase}/hook
      body: { execution: "{{ name }}", phase: "{{ phaseName }}" }
  rules:
    - name: every-failure
      match: { onlyPhases: [FAILED] }
      notify: [hook]
`;
}

function failedEvent(name: string): ExecutionEvent {
  return sampleEvent({
    id: randomUUID(),
    execution: { project: 'flytesnacks', domain: 'development', name },
    notifications: [{ phases: ['FAILED'], email: { recipients: [`${name}@example.com`] } }],
  });
}

async function eventFile(event: ExecutionEvent): Promise<string> {
  const file = join(tmpdir(), `herald-dlq-event-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify(event));
  cleanups.push(() => rm(file, { force: true }));
  return file;
}

async function listed(configFile: string): Promise<Listed[]> {
  const result = await herald(['dead-letters', 'list', '--config', configFile, '--json']);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as Listed[];
}

/** Starts `herald run` and stops it (SIGTERM, exit 0 expected) after the test. */
async function run(configFile: string, env: Record<string, string> = {}) {
  const child = start(['run', '--config', configFile], undefined, env);
  cleanups.push(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      expect((await finished(child)).status).toBe(0);
    }
  });
  await waitForLog(child, 'herald processor started');
  return child;
}

/**
 * `herald run` on a stack with a delivery log, two attempts per message and a webhook that is
 * down (503), and one FAILED event published to it.
 */
async function publishedWhileHookDown(name: string) {
  const hook = await hookReceiver();
  hook.down(true);
  const stack = await createStack({
    maxAttempts: 2,
    processor: { retryBaseDelayMs: 200, retryMaxDelayMs: 500 },
    herald: await storeAndHook(hook.services.base),
  });
  await run(stack.configFile);
  const event = failedEvent(`${name}-${stack.id}`);
  expect((await herald(['publish', '--config', stack.configFile, '--event', await eventFile(event)])).status).toBe(0);
  return { hook, stack, event };
}

describe('herald dead-letters on SQS', () => {
  it('lists a message dead-lettered while a webhook was down; after it recovers, redrive delivers it once and sends nothing else again', async () => {
    const { hook, stack, event } = await publishedWhileHookDown('dlq');

    // The email goes out; the webhook is refused until attempts run out and it is dead-lettered.
    const [dead] = await eventually(async () => {
      const found = await listed(stack.configFile);
      expect(found).toHaveLength(1);
      return found;
    }, 60_000);
    expect(dead).toMatchObject({
      kind: 'attempts-exhausted',
      eventId: event.id,
      destination: 'channel:hook',
    });
    expect(dead?.reason).toMatch(/^gave up after 2 attempts: .*503/);
    expect(dead?.sentAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.parse(dead?.body ?? '')).toMatchObject({ id: event.id });
    expect(Object.keys(dead?.attributes ?? {}).filter((k) => k.startsWith('herald.'))).toEqual([]);
    expect(await emailsFrom(stack)).toHaveLength(1);
    expect(hook.accepted()).toBe(0);

    // Listing leaves it there; the text form names the kind and the reason.
    const text = await herald(['dead-letters', 'list', '--config', stack.configFile]);
    expect(text.stdout).toContain('attempts-exhausted');
    expect(text.stdout).toMatch(/reason: gave up after 2 attempts/);
    expect(text.stdout).toContain('1 shown from sqs queue');
    expect(await listed(stack.configFile)).toHaveLength(1);

    // A dry run and a --since after it moves nothing.
    const dry = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--dry-run']);
    expect(dry.stdout).toContain(`would redrive  ${dead?.id}  event ${event.id}`);
    expect(dry.stdout).toContain('dry run: would redrive 1, 0 skipped, 0 failed');
    const future = new Date(Date.now() + 60_000).toISOString();
    const none = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--since', future]);
    expect(none.status).toBe(0);
    expect(none.stdout).toContain('0 redriven, 0 skipped, 0 failed');
    expect(none.stdout).toContain('1 older than --since left in place');
    expect(await listed(stack.configFile)).toHaveLength(1);

    hook.down(false);
    const redrive = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--since', '1h']);
    expect(redrive.stderr).toBe('');
    expect(redrive.status).toBe(0);
    expect(redrive.stdout).toMatch(
      new RegExp(
        `^redriven\\s+${dead?.id}  → \\S+  event ${event.id}  attempts-exhausted  channel:hook  \\(reopened: channel:hook\\)$`,
        'm',
      ),
    );
    expect(redrive.stdout).toContain('1 redriven, 0 skipped, 0 failed');

    // Delivered once at the receiving end; the email, already delivered, is not sent again.
    await eventually(async () => expect(hook.accepted()).toBe(1), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(hook.accepted()).toBe(1);
    expect(await emailsFrom(stack)).toHaveLength(1);
    expect(await queueIsEmpty(stack.sqs, stack.deadLetterUrl)).toBe(true);
    expect(await queueIsEmpty(stack.sqs, stack.queueUrl)).toBe(true);
    expect(await listed(stack.configFile)).toEqual([]);

    const log = await herald(['deliveries', 'list', '--config', stack.configFile, '--event', event.id, '--json']);
    const rows = JSON.parse(log.stdout) as { destination: string; status: string; attempts: number }[];
    expect(rows.map((r) => [r.destination.split(':')[0], r.status]).sort()).toEqual([
      ['channel', 'delivered'],
      ['email', 'delivered'],
    ]);
    expect(rows.find((r) => r.destination === 'channel:hook')?.attempts).toBe(3);
  });

  it('logs a message it cannot read, with the queue’s message id and why, for `herald deliveries undecodable`', async () => {
    const hook = await hookReceiver();
    const stack = await createStack({ herald: await storeAndHook(hook.services.base) });
    await run(stack.configFile);
    const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
    const sent = await stack.sqs.send(
      new SendMessageCommand({ QueueUrl: stack.queueUrl, MessageBody: 'not an event' }),
    );

    // Dead-lettered with the reason, and in the log under the id SQS gave it.
    const [found] = await eventually(async () => {
      const result = await herald(['deliveries', 'undecodable', '--config', stack.configFile, '--json']);
      expect(result.status).toBe(0);
      const rows = JSON.parse(result.stdout) as { messageId: string; source: string; reason: string }[];
      expect(rows).toHaveLength(1);
      return rows;
    }, 30_000);
    expect(found).toMatchObject({ messageId: sent.MessageId, source: 'sqs' });
    expect(found?.reason).toMatch(/json/i);
    expect((await listed(stack.configFile)).map((d) => [d.kind, d.reason])).toEqual([['undecodable', found?.reason]]);

    const text = await herald(['deliveries', 'undecodable', '--config', stack.configFile, '--since', '1h']);
    expect(text.stdout).toContain(`sqs     ${sent.MessageId}  (${found?.reason})`);
    const none = await herald(['deliveries', 'undecodable', '--config', stack.configFile, '--until', '1h']);
    expect(none.stdout).toBe('no undecodable messages\n');
  });

  it('refuses to redrive without a delivery log unless told, and then moves the original body and attributes', async () => {
    const stack = await createStack();
    const body = JSON.stringify(failedEvent(`nolog-${stack.id}`));
    // A dead letter as the SQS source writes one, with an original attribute beside Herald's.
    const { SendMessageCommand } = await import('@aws-sdk/client-sqs');
    const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.deadLetterUrl,
        MessageBody: body,
        MessageAttributes: {
          'herald.reason': attribute('gave up after 8 attempts: 503'),
          'herald.kind': attribute('attempts-exhausted'),
          'herald.sourceMessageId': attribute('m-1'),
          phase: attribute('FAILED'),
        },
      }),
    );
    const refused = await herald(['dead-letters', 'redrive', '--config', stack.configFile]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('keeps no delivery log (herald.store)');
    expect(refused.stderr).toContain('--without-store');

    const moved = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--without-store']);
    expect(moved.status).toBe(0);
    expect(moved.stdout).toContain('1 redriven, 0 skipped, 0 failed');
    const { ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
    const back = await stack.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: stack.queueUrl, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    expect(back.Messages?.map((m) => m.Body)).toEqual([body]);
    expect(back.Messages?.[0]?.MessageAttributes).toEqual({ phase: { DataType: 'String', StringValue: 'FAILED' } });
    expect(await queueIsEmpty(stack.sqs, stack.deadLetterUrl)).toBe(true);
  });
});

describe('herald dead-letters on Pub/Sub', () => {
  it('lists what the dead-letter subscription holds; after the webhook recovers, redrive delivers it once', async () => {
    const hook = await hookReceiver();
    hook.down(true);
    const key = `SG.${randomUUID()}`;
    const sendgrid = new FakeSendGrid(key);
    const env = { TEST_SENDGRID_KEY: key, HERALD_SENDGRID_BASE_URL: await sendgrid.start() };
    cleanups.push(() => sendgrid.stop());
    const stack = await createGcpStack(
      '{ serviceName: sendgrid, apiKeyEnvVar: TEST_SENDGRID_KEY }',
      env,
      await storeAndHook(hook.services.base),
      { maxAttempts: 2 },
    );
    await run(stack.configFile, env);
    const event = failedEvent(`dlq-${stack.id}`);
    const published = await herald(['publish', '--config', stack.configFile, '--event', await eventFile(event)]);
    expect(published.status).toBe(0);

    const [dead] = await eventually(async () => {
      const found = await listed(stack.configFile);
      expect(found).toHaveLength(1);
      return found;
    }, 60_000);
    expect(dead).toMatchObject({ kind: 'attempts-exhausted', eventId: event.id, destination: 'channel:hook' });
    expect(dead?.reason).toMatch(/503/);
    expect(sendgrid.accepted).toHaveLength(1);
    // Listed twice: the first listing handed it back to the subscription.
    expect(await listed(stack.configFile)).toHaveLength(1);

    hook.down(false);
    const redrive = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--limit', '5']);
    expect(redrive.stderr).toBe('');
    expect(redrive.status).toBe(0);
    expect(redrive.stdout).toContain(`redriven       ${dead?.id}  → `);
    expect(redrive.stdout).toContain('1 redriven, 0 skipped, 0 failed (from pubsub subscription');

    await eventually(async () => expect(hook.accepted()).toBe(1), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(hook.accepted()).toBe(1);
    expect(sendgrid.accepted).toHaveLength(1);
    expect(await listed(stack.configFile)).toEqual([]);
  });

  it("strips Herald's and Pub/Sub's dead-letter attributes and keeps the original ones", async () => {
    const stack = await createGcpStack('{ serviceName: sendgrid, apiKeyEnvVar: TEST_SENDGRID_KEY }', {
      TEST_SENDGRID_KEY: 'SG.x',
    });
    const pubsub = new PubSub({ projectId: stack.projectId });
    cleanups.push(() => pubsub.close());
    // Read what reaches the processor's topic through a subscription of the test's own.
    const [probe] = await pubsub.topic(stack.config.publisher.topicName).createSubscription(`${stack.id}-probe`);
    const data = Buffer.from([0x0a, 0x03, 0xff, 0x00, 0x01]);
    await pubsub.topic(stack.config.gcpTransport.deadLetterTopicName).publishMessage({
      data,
      attributes: {
        key: 'flyteidl.admin.EmailNotification',
        'herald.kind': 'permanent-failure',
        'herald.reason': 'refused',
        CloudPubSubDeadLetterSourceDeliveryCount: '6',
      },
    });
    const [shown] = await eventually(async () => {
      const found = await listed(stack.configFile);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(shown).toMatchObject({ kind: 'permanent-failure', receiveCount: 6, bodyEncoding: 'base64' });
    expect(shown?.attributes).toEqual({ key: 'flyteidl.admin.EmailNotification' });

    const moved = await herald(['dead-letters', 'redrive', '--config', stack.configFile, '--without-store']);
    expect(moved.stdout).toContain('1 redriven');
    const messages: Message[] = [];
    probe.on('message', (m: Message) => {
      messages.push(m);
      m.ack();
    });
    cleanups.push(() => probe.close());
    await eventually(async () => expect(messages).toHaveLength(1));
    expect(messages[0]?.data.equals(data)).toBe(true);
    expect(messages[0]?.attributes).toEqual({ key: 'flyteidl.admin.EmailNotification' });
    expect(await listed(stack.configFile)).toEqual([]);
  });
});

describe('herald redeliver on SQS', () => {
  it('sends a dead-lettered destination again through the queue once it works, and the log shows every attempt', async () => {
    const { hook, stack, event } = await publishedWhileHookDown('redeliver');

    // The email goes out; the webhook is refused until attempts run out.
    await eventually(async () => expect(await listed(stack.configFile)).toHaveLength(1), 60_000);
    expect(await emailsFrom(stack)).toHaveLength(1);

    hook.down(false);
    const again = await herald(['redeliver', event.id, '--config', stack.configFile]);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(
      /^reopened {2}webhook 'hook' {2}\(2 attempts so far; last: gave up after 2 attempts: .*503/m,
    );
    expect(again.stdout).not.toContain('email to');

    // Delivered once at the receiving end; the email, delivered before, is not sent again.
    await eventually(async () => expect(hook.accepted()).toBe(1), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(hook.accepted()).toBe(1);
    expect(await emailsFrom(stack)).toHaveLength(1);

    const shown = await herald(['deliveries', 'show', event.id, '--config', stack.configFile, '--json']);
    const { deliveries, attempts } = JSON.parse(shown.stdout) as {
      deliveries: { label: string; status: string; attempts: number }[];
      attempts: { destination: string; outcome: string }[];
    };
    expect(deliveries.map((d) => [d.label, d.status, d.attempts]).sort()).toEqual([
      [`email to redeliver-${stack.id}@example.com`, 'delivered', 1],
      ["webhook 'hook'", 'delivered', 3],
    ]);
    expect(attempts.filter((a) => a.destination === 'channel:hook').map((a) => a.outcome)).toEqual([
      'failed',
      'dead-lettered',
      'delivered',
    ]);

    // Nothing left to send: a second redeliver says so, and --force is how to send it anyway.
    const nothing = await herald(['redeliver', event.id, '--config', stack.configFile]);
    expect(nothing.stdout).toContain('nothing to redeliver');
  });
});

describe('herald silences on SQS', () => {
  it('stops matching deliveries within seconds of being added, logs each as silenced, and replays nothing unless redelivered', async () => {
    const hook = await hookReceiver();
    const stack = await createStack({
      processor: { retryBaseDelayMs: 200, retryMaxDelayMs: 500 },
      herald: await storeAndHook(hook.services.base),
    });
    await run(stack.configFile);
    const hooked = () => hook.services.to('/hook').map((r) => (r.json as { execution: string }).execution);
    const publish = async (event: ExecutionEvent) =>
      expect((await herald(['publish', '--config', stack.configFile, '--event', await eventFile(event)])).status).toBe(
        0,
      );

    const before = failedEvent(`before-${stack.id}`);
    await publish(before);
    await eventually(async () => expect(hooked()).toEqual([before.execution.name]));

    // Silence the webhook for flytesnacks, not the email.
    const added = await herald([
      'silences',
      'add',
      '--config',
      stack.configFile,
      '--match',
      'project=flytesnacks',
      '--match',
      'destination=ho?k',
      '--for',
      '1h',
      '--comment',
      'feature store outage, tracked in OPS-12',
      '--by',
      'oncall@x.com',
      '--json',
    ]);
    expect(added.stderr).toBe('');
    const silence = JSON.parse(added.stdout) as { id: string; matchers: unknown };
    expect(silence.matchers).toEqual([
      { field: 'project', pattern: 'flytesnacks' },
      { field: 'destination', pattern: 'ho?k' },
    ]);
    const listedSilences = await herald(['silences', 'list', '--config', stack.configFile]);
    expect(listedSilences.stdout).toContain(`${silence.id}  until `);
    expect(listedSilences.stdout).toContain(
      'project=flytesnacks destination=ho?k  (feature store outage, tracked in OPS-12, oncall@x.com)',
    );

    // Honoured within 5 s by the running replica.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const muted = failedEvent(`muted-${stack.id}`);
    const elsewhere = {
      ...failedEvent(`elsewhere-${stack.id}`),
      execution: { project: 'other', domain: 'development', name: `elsewhere-${stack.id}` },
    };
    await publish(muted);
    await publish(elsewhere);
    await eventually(async () => expect(hooked()).toContain(elsewhere.execution.name));
    await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(3));
    const log = await herald(['deliveries', 'list', '--config', stack.configFile, '--event', muted.id, '--json']);
    const rows = JSON.parse(log.stdout) as { destination: string; status: string; silenceId: string | null }[];
    expect(rows.map((r) => [r.destination.split(':')[0], r.status, r.silenceId]).sort()).toEqual([
      ['channel', 'silenced', silence.id],
      ['email', 'delivered', null],
    ]);
    const text = await herald(['deliveries', 'list', '--config', stack.configFile, '--status', 'silenced']);
    expect(text.stdout).toMatch(new RegExp(`silenced .* webhook 'hook' +\\(silenced by ${silence.id}\\)`));

    // Ended: nothing muted is replayed; a redelivery sends it, once.
    expect((await herald(['silences', 'expire', silence.id, '--config', stack.configFile])).stdout).toBe(
      `expired ${silence.id}\n`,
    );
    const again = await herald(['silences', 'expire', silence.id, '--config', stack.configFile]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`no silence ${silence.id} in force`);
    expect((await herald(['silences', 'list', '--config', stack.configFile])).stdout).toBe('no silences\n');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(hooked()).not.toContain(muted.execution.name);
    expect((await herald(['redeliver', muted.id, '--config', stack.configFile])).status).toBe(0);
    await eventually(async () => expect(hooked().filter((name) => name === muted.execution.name)).toHaveLength(1));
    expect(await emailsFrom(stack)).toHaveLength(3);
  });
});
