import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { SESClient, VerifyEmailIdentityCommand } from '@aws-sdk/client-ses';
import {
  ListSubscriptionsByTopicCommand,
  PublishCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { PubSub } from '@google-cloud/pubsub';
import { silentLogger } from '@herald/core/runtime';
import { createProcessor, type Processor } from '@herald/processor';
import { afterEach, describe, expect, it } from 'vitest';
import { flyteidl } from '../packages/processor/src/flyte/flyteidl.js';
import {
  type AwsStack,
  createStack,
  eventually,
  type QueuedMessage,
  queueIsEmpty,
  type SentEmail,
  sendRaw,
  sentEmails,
  takeMessages,
} from './helpers/aws.js';
import { FakeSendGrid } from './helpers/fake-sendgrid.js';
import { FakeServices } from './helpers/fake-services.js';
import { createGcpStack } from './helpers/gcp.js';

// What FlyteAdmin publishes, built with flyteidl exactly as FlyteAdmin builds it and published
// exactly as its gizmo publisher does (see /work/notes/flyte-research.md, sections 2 and 3):
// - SNS: Subject = the protobuf message name, Message = standard base64 of the bytes, no attributes;
// - Pub/Sub: data = the bytes themselves, attribute `key` = the message name.
// Herald runs with its default `herald.processor.input: auto` unless a test says otherwise.

const { flyteidl: fl, google } = flyteidl();
// The same `long` the processor decodes with: flyteidl types int64 fields as Long.
const Long = createRequire(new URL('../packages/processor/package.json', import.meta.url))('long') as {
  fromNumber(value: number): Long;
};

const EMAIL_KEY = 'flyteidl.admin.EmailNotification';
const WORKFLOW_EVENT_KEY = 'flyteidl.admin.WorkflowExecutionEventRequest';
const NODE_EVENT_KEY = 'flyteidl.admin.NodeExecutionEventRequest';

/** FlyteAdmin's default body shape, plus a placeholder FlyteAdmin does not know (it leaves those as written). */
const BODY =
  '<html><body><p>Execution <a href="https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/abc123">flytesnacks/development/abc123</a> has failed in "development". The execution failed with error: [task failed: <b>boom</b> &amp; more].</p><p>{{ unknown }}</p></body></html>';

interface AdminEmail {
  sender: string;
  recipients: string[];
  subject: string;
  body: string;
}

/** A `flyteidl.admin.EmailMessage` as FlyteAdmin's notification publisher serialises it. */
function emailMessageBytes(email: AdminEmail): Uint8Array {
  const { EmailMessage } = fl.admin;
  return EmailMessage.encode(
    EmailMessage.create({
      recipientsEmail: email.recipients,
      senderEmail: email.sender,
      subjectLine: email.subject,
      body: email.body,
    }),
  ).finish();
}

function adminEmail(sender: string, name = 'abc123'): AdminEmail {
  return {
    sender,
    recipients: ['ops@example.com', 'dev.team@example.com'],
    // FlyteAdmin renders the subject from notifications.emailer.subject; a template written as
    // a YAML block can carry a line break into it.
    subject: `Notice: Execution "${name}" has failed\r\nin "development".`,
    body: BODY.replaceAll('abc123', name),
  };
}

const execution = { project: 'flytesnacks', domain: 'development', name: 'abc123' };
const OCCURRED_MS = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const timestamp = (ms: number) =>
  google.protobuf.Timestamp.create({ seconds: Long.fromNumber(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });

/** `externalEvents`: a WorkflowExecutionEventRequest as FlyteAdmin passes it on from propeller. */
function workflowEventBytes(phase: 'RUNNING' | 'FAILED', occurredMs: number): Uint8Array {
  const { WorkflowExecutionEventRequest } = fl.admin;
  return WorkflowExecutionEventRequest.encode(
    WorkflowExecutionEventRequest.create({
      requestId: randomUUID(),
      event: {
        executionId: execution,
        producerId: 'propeller',
        phase: fl.core.WorkflowExecution.Phase[phase],
        occurredAt: timestamp(occurredMs),
        ...(phase === 'FAILED' && {
          error: {
            code: 'USER:RuntimeError',
            message: 'task failed: boom',
            errorUri: 's3://flyte/metadata/error.pb',
            kind: fl.core.ExecutionError.ErrorKind.USER,
          },
        }),
      },
    }),
  ).finish();
}

/** A node's event on the same topic (eventTypes: [all]): a failed node, not a failed workflow. */
function nodeEventBytes(occurredMs: number): Uint8Array {
  const { NodeExecutionEventRequest } = fl.admin;
  return NodeExecutionEventRequest.encode(
    NodeExecutionEventRequest.create({
      requestId: randomUUID(),
      event: {
        id: { nodeId: 'n0', executionId: execution },
        producerId: 'propeller',
        phase: fl.core.NodeExecution.Phase.FAILED,
        occurredAt: timestamp(occurredMs),
        error: { code: 'USER:RuntimeError', message: 'node failed', kind: fl.core.ExecutionError.ErrorKind.USER },
      },
    }),
  ).finish();
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** gizmo's `pubsub/aws` PublishRaw: Subject the key, Message base64 of the bytes, no attributes. */
async function gizmoPublish(stack: AwsStack, key: string, message: string): Promise<void> {
  const sns = new SNSClient({ region: 'us-east-1' });
  try {
    await sns.send(new PublishCommand({ TopicArn: stack.config.publisher.topicName, Subject: key, Message: message }));
  } finally {
    sns.destroy();
  }
}

/** FlyteAdmin's set-up: the topic's subscription delivers SNS's JSON envelope, not the raw message. */
async function turnOffRawDelivery(stack: AwsStack): Promise<void> {
  const sns = new SNSClient({ region: 'us-east-1' });
  try {
    const { Subscriptions = [] } = await sns.send(
      new ListSubscriptionsByTopicCommand({ TopicArn: stack.config.publisher.topicName }),
    );
    expect(Subscriptions).toHaveLength(1);
    for (const { SubscriptionArn } of Subscriptions) {
      await sns.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn,
          AttributeName: 'RawMessageDelivery',
          AttributeValue: 'false',
        }),
      );
    }
  } finally {
    sns.destroy();
  }
}

/** FlyteAdmin's `notifications.emailer.sender`, verified in SES as an operator would. */
async function flyteSender(stack: AwsStack): Promise<string> {
  const sender = `flyte-notifications-${stack.id}@example.com`;
  const ses = new SESClient({ region: 'us-east-1' });
  try {
    await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: sender }));
  } finally {
    ses.destroy();
  }
  return sender;
}

async function emailsFromSender(sender: string): Promise<SentEmail[]> {
  return (await sentEmails()).filter((m) => m.from === sender);
}

const running: Processor[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** A processor as `herald run` builds it, with what it reports counted. */
async function run(config: AwsStack['config']) {
  const processor = createProcessor(config, { logger: silentLogger });
  running.push(processor);
  const seen = { acked: 0, duplicates: 0, skipped: [] as string[], deadLettered: [] as string[] };
  processor.events.on('message_settled', (e) => {
    if (e.outcome === 'acked') seen.acked++;
  });
  processor.events.on('duplicate_skipped', () => seen.duplicates++);
  processor.events.on('message_skipped', (e) => seen.skipped.push(e.reason));
  processor.events.on('dead_lettered', (e) => seen.deadLettered.push(`${e.kind}: ${e.reason}`));
  await processor.start();
  return seen;
}

function expectSentAsFlyteAdminWould(email: SentEmail | undefined, sent: AdminEmail): void {
  expect(email?.from).toBe(sent.sender);
  expect(email?.to).toEqual(sent.recipients);
  expect(email?.subject).toBe(sent.subject.replace('\r\n', ' '));
  expect(email?.subject).not.toMatch(/[\r\n]/);
  expect(email?.html).toBe(sent.body);
  expect(email?.html).toContain('{{ unknown }}');
}

describe('FlyteAdmin notifications on AWS: SNS → SQS → Herald (input auto) → SES', () => {
  it('emails an EmailMessage published through a subscription without raw delivery once: sender, recipients, subject on one line, body verbatim', async () => {
    const stack = await createStack();
    await turnOffRawDelivery(stack);
    const sender = await flyteSender(stack);
    const seen = await run(stack.config);
    const email = adminEmail(sender);

    await gizmoPublish(stack, EMAIL_KEY, base64(emailMessageBytes(email)));

    const [sent] = await eventually(async () => {
      const all = await emailsFromSender(sender);
      expect(all).toHaveLength(1);
      return all;
    }, 20_000);
    expectSentAsFlyteAdminWould(sent, email);
    await eventually(async () => expect(seen.acked).toBe(1), 10_000);
    expect(seen.deadLettered).toEqual([]);
    expect(await emailsFromSender(sender)).toHaveLength(1);
    // Herald's own sender and templates play no part in an email FlyteAdmin rendered.
    expect(await emailsFromSender(stack.sender)).toEqual([]);
  });

  it('emails an EmailMessage that arrives as bare base64 through a raw-delivery subscription once', async () => {
    const stack = await createStack(); // herald infra up's subscription: raw delivery on
    const sender = await flyteSender(stack);
    const seen = await run(stack.config);
    const email = adminEmail(sender, 'raw456');

    await gizmoPublish(stack, EMAIL_KEY, base64(emailMessageBytes(email)));

    const [sent] = await eventually(async () => {
      const all = await emailsFromSender(sender);
      expect(all).toHaveLength(1);
      return all;
    }, 20_000);
    expectSentAsFlyteAdminWould(sent, email);
    await eventually(async () => expect(seen.acked).toBe(1), 10_000);
    expect(seen.deadLettered).toEqual([]);
    expect(await emailsFromSender(sender)).toHaveLength(1);
  });

  it('emails once for a publish delivered twice, and once per publish for two publishes of the same bytes', async () => {
    const stack = await createStack();
    await turnOffRawDelivery(stack);
    const sender = await flyteSender(stack);
    const seen = await run(stack.config);
    const message = base64(emailMessageBytes(adminEmail(sender, 'twice789')));

    // SNS delivers at least once: one publish, its envelope (one SNS MessageId) queued twice.
    const envelope = JSON.stringify({
      Type: 'Notification',
      MessageId: '9f3c2a1e-0000-4000-8000-000000000001',
      TopicArn: stack.config.publisher.topicName,
      Subject: EMAIL_KEY,
      Message: message,
      Timestamp: new Date().toISOString(),
    });
    await sendRaw(stack, envelope);
    await sendRaw(stack, envelope);
    await eventually(async () => {
      expect(seen.acked).toBe(2);
      expect(seen.duplicates).toBe(1);
    }, 20_000);
    expect(await emailsFromSender(sender)).toHaveLength(1);

    // Two publishes of equal bytes (a template that renders two executions alike): each is told.
    await gizmoPublish(stack, EMAIL_KEY, message);
    await gizmoPublish(stack, EMAIL_KEY, message);
    await eventually(async () => expect(seen.acked).toBe(4), 20_000);
    expect(await emailsFromSender(sender)).toHaveLength(3);
    expect(seen.deadLettered).toEqual([]);
  });

  it('dead-letters garbage and an EmailMessage with no recipients to <queue>-dlq, naming the problem, and still delivers the next', async () => {
    const stack = await createStack();
    await turnOffRawDelivery(stack);
    const sender = await flyteSender(stack);
    const seen = await run(stack.config);
    const garbage = base64(Buffer.from('not a protobuf at all'));
    const nobody = base64(emailMessageBytes({ ...adminEmail(sender, 'nobody'), recipients: [] }));
    const good = adminEmail(sender, 'after-bad');

    await gizmoPublish(stack, EMAIL_KEY, garbage);
    await gizmoPublish(stack, EMAIL_KEY, nobody);
    await gizmoPublish(stack, EMAIL_KEY, base64(emailMessageBytes(good)));

    const [sent] = await eventually(async () => {
      const all = await emailsFromSender(sender);
      expect(all).toHaveLength(1);
      return all;
    }, 20_000);
    expectSentAsFlyteAdminWould(sent, good);

    const dead: QueuedMessage[] = [];
    await eventually(async () => {
      dead.push(...(await takeMessages(stack.sqs, stack.deadLetterUrl)));
      expect(dead).toHaveLength(2);
    }, 20_000);
    // The dead letter keeps the SNS envelope as it arrived; its Message says which was which.
    const byMessage = new Map(dead.map((m) => [(JSON.parse(m.body) as { Message: string }).Message, m.attributes]));
    expect(byMessage.get(garbage)?.['herald.kind']).toBe('undecodable');
    expect(byMessage.get(garbage)?.['herald.reason']).toMatch(/^FlyteAdmin EmailMessage: not a valid protobuf \(/);
    expect(byMessage.get(nobody)?.['herald.kind']).toBe('undecodable');
    expect(byMessage.get(nobody)?.['herald.reason']).toBe(
      'FlyteAdmin EmailMessage recipients_email: is empty, so the email would reach nobody',
    );
    await eventually(async () => expect(seen.acked).toBe(3), 10_000);
    expect(await emailsFromSender(sender)).toHaveLength(1);
  });
});

describe('FlyteAdmin notifications on GCP: Pub/Sub → Herald (input auto) → SendGrid', () => {
  it('sends the EmailMessage published as raw bytes with attribute key as one mail with FlyteAdmin’s sender, recipients, subject and body', async () => {
    const apiKey = `SG.${randomUUID()}`;
    const sendgrid = new FakeSendGrid(apiKey);
    const baseUrl = await sendgrid.start();
    cleanups.push(() => sendgrid.stop());
    process.env.FLYTE_IT_SENDGRID_KEY = apiKey;
    const stack = await createGcpStack('{ serviceName: sendgrid, apiKeyEnvVar: FLYTE_IT_SENDGRID_KEY }', {
      HERALD_SENDGRID_BASE_URL: baseUrl,
    });
    const seen = await run(stack.config);
    const email = adminEmail('flyte-notifications@example.com', 'gcp321');

    // gizmo's `pubsub/gcp` PublishRaw: the bytes themselves, the message name as attribute `key`.
    const pubsub = new PubSub({ projectId: stack.projectId });
    try {
      await pubsub
        .topic(stack.config.publisher.topicName)
        .publishMessage({ data: Buffer.from(emailMessageBytes(email)), attributes: { key: EMAIL_KEY } });
    } finally {
      await pubsub.close();
    }

    await eventually(async () => expect(sendgrid.accepted).toHaveLength(1), 20_000);
    await eventually(async () => expect(seen.acked).toBe(1), 10_000);
    const [{ mail, authorization }] = sendgrid.accepted as [(typeof sendgrid.accepted)[0]];
    expect(authorization).toBe(`Bearer ${apiKey}`);
    expect(mail.from).toEqual({ email: 'flyte-notifications@example.com' });
    expect(mail.personalizations).toEqual([{ to: [{ email: 'ops@example.com' }, { email: 'dev.team@example.com' }] }]);
    expect(mail.subject).toBe('Notice: Execution "gcp321" has failed in "development".');
    expect(mail.content.find((c) => c.type === 'text/html')?.value).toBe(email.body);
    expect(seen.deadLettered).toEqual([]);
    expect(sendgrid.accepted).toHaveLength(1);
  });
});

describe('FlyteAdmin externalEvents on AWS: SNS → SQS → Herald (input flyteadmin-events) → rules → Slack, PagerDuty', () => {
  it('FAILED: one Slack post and one PagerDuty trigger; RUNNING of the same execution: nothing; a node event: acked, nothing sent or dead-lettered', async () => {
    const services = new FakeServices('unused');
    const base = await services.start();
    cleanups.push(() => services.stop());
    // Channels read their secrets from the environment, as in production.
    process.env.FLYTE_IT_SLACK_URL = `${base}/slack/services/T0/B0/flyte`;
    process.env.FLYTE_IT_PD_KEY = 'flyte-it-routing-key';
    const stack = await createStack({
      processor: { input: 'flyteadmin-events' },
      herald: `  channels:
    oncall:
      type: slack
      webhookUrlEnvVar: FLYTE_IT_SLACK_URL
      text: "{{ project }}/{{ domain }}/{{ name }} {{ phase }}: {{ errorMessage }}"
    pd:
      type: pagerduty
      routingKeyEnvVar: FLYTE_IT_PD_KEY
      url: ${base}/pagerduty/v2/enqueue
  rules:
    - name: flyte-failures
      match: { onlyPhases: [FAILED] }
      notify: [oncall, pd]
`,
    });
    await turnOffRawDelivery(stack);
    const seen = await run(stack.config);

    await gizmoPublish(stack, WORKFLOW_EVENT_KEY, base64(workflowEventBytes('RUNNING', OCCURRED_MS - 60_000)));
    await gizmoPublish(stack, NODE_EVENT_KEY, base64(nodeEventBytes(OCCURRED_MS - 1000)));
    await gizmoPublish(stack, WORKFLOW_EVENT_KEY, base64(workflowEventBytes('FAILED', OCCURRED_MS)));

    await eventually(async () => {
      expect(services.to('/slack')).toHaveLength(1);
      expect(services.to('/pagerduty')).toHaveLength(1);
      expect(seen.acked).toBe(3);
    }, 20_000);

    const [slack] = services.to('/slack');
    expect(slack?.json).toEqual({ text: 'flytesnacks/development/abc123 failed: task failed: boom' });
    const [pd] = services.to('/pagerduty');
    expect(pd?.json).toMatchObject({
      routing_key: 'flyte-it-routing-key',
      event_action: 'trigger',
      dedup_key: 'herald/flytesnacks/development/abc123',
    });
    // Everything was settled: the RUNNING event and the node event asked for nothing.
    expect(services.requests).toHaveLength(2);
    expect(seen.skipped).toEqual([
      `node execution event (${NODE_EVENT_KEY}): Herald notifies on workflow executions only`,
    ]);
    expect(seen.deadLettered).toEqual([]);
    expect(await queueIsEmpty(stack.sqs, stack.deadLetterUrl)).toBe(true);
    expect(await queueIsEmpty(stack.sqs, stack.queueUrl)).toBe(true);
  });
});
