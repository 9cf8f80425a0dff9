import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { awsInfraUp } from '@herald/cli';
import { parseConfig, type ResolvedConfig } from '@herald/core/config';
import { inject } from 'vitest';

/** A unique AWS stack for one test: topic, queue, DLQ, subscription, verified sender. */
export interface AwsStack {
  id: string;
  config: ResolvedConfig;
  /** The same config as a file, for CLI tests. */
  configFile: string;
  sender: string;
  sqs: SQSClient;
  queueUrl: string;
  deadLetterUrl: string;
}

const ACCOUNT = '000000000000';

/** What a test may change in the stack's config; everything else is the default below. */
export interface StackOptions {
  maxInFlight?: number;
  maxAttempts?: number;
  /** `notifications.emailer.emailServerConfig` as a YAML flow mapping, e.g. an SMTP server. */
  emailServerConfig?: string;
  subject?: string;
  body?: string;
  /** `herald.processor` keys laid over the defaults below (retry delays, timeouts, `input`, …). */
  processor?: Record<string, number | string>;
  /** More keys of the `herald:` block (`channels`, `rules`, …) as YAML, indented by two spaces. */
  herald?: string;
  /**
   * `herald.aws.endpoint`: every AWS call of a process using the config goes there. (An
   * `AWS_ENDPOINT_URL_SQS` is not enough to reroute SQS: the SDK sends to the host of the queue
   * URL unless an endpoint is configured.)
   */
  endpoint?: string;
}

/**
 * Creates a fresh stack with `herald infra up`'s own code, so every test runs against real
 * SNS/SQS/SES calls on the emulator and none shares a queue with another.
 */
export async function createStack(options: StackOptions = {}): Promise<AwsStack> {
  const id = `herald-${randomUUID().slice(0, 8)}`;
  const account = await accountId();
  const sender = `${id}@example.com`;
  const processor = {
    retryBaseDelayMs: 1000,
    retryMaxDelayMs: 2000,
    shutdownGraceMs: 5000,
    maxInFlight: options.maxInFlight ?? 32,
    maxAttempts: options.maxAttempts ?? 8,
    ...options.processor,
  };
  // JSON strings and objects are YAML too: any template text goes in unharmed.
  const yaml = `
notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:${account}:${id}" }
  processor: { queueName: ${id}, accountId: "${account}" }
  emailer:
    sender: ${sender}
    subject: ${JSON.stringify(options.subject ?? '{{ name }} {{ phase }}')}
    body: ${JSON.stringify(options.body ?? '<p>Execution <b>{{ name }}</b> {{ phase }}.{{ error }}</p>')}
${options.emailServerConfig ? `    emailServerConfig: ${options.emailServerConfig}\n` : ''}herald:
  processor: ${JSON.stringify(processor)}
  aws: { waitTimeSeconds: 1, visibilityTimeoutSeconds: 5, receiveConcurrency: 2${options.endpoint ? `, endpoint: "${options.endpoint}"` : ''} }
${options.herald ?? ''}`;
  const config = parseConfig(yaml, { env: process.env });
  await awsInfraUp(config, () => {});
  const dir = await mkdtemp(join(tmpdir(), 'herald-aws-'));
  const configFile = join(dir, 'herald.yaml');
  await writeFile(configFile, yaml);
  const sqs = new SQSClient({ region: 'us-east-1' });
  const url = async (name: string) => (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? '';
  return {
    id,
    config,
    configFile,
    sender,
    sqs,
    queueUrl: await url(id),
    deadLetterUrl: await url(`${id}-dlq`),
  };
}

/** moto's default account is 123456789012, LocalStack's 000000000000. */
async function accountId(): Promise<string> {
  return inject('awsEmulator') === 'moto' ? '123456789012' : ACCOUNT;
}

/**
 * Sends a body straight to a queue, bypassing SNS (as another producer, or a broken one, would).
 * @returns the queue's id for the message.
 */
export async function sendRaw(stack: AwsStack, body: string): Promise<string> {
  const sent = await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrl, MessageBody: body }));
  return sent.MessageId ?? '';
}

/** A message as read from a queue, with its message attributes as strings. */
export interface QueuedMessage {
  body: string;
  attributes: Record<string, string>;
}

function queued(message: Message): QueuedMessage {
  return {
    body: message.Body ?? '',
    attributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
    ),
  };
}

/** Reads everything in a queue (for the DLQ, after the processor is done). */
export async function drain(sqs: SQSClient, queueUrl: string): Promise<QueuedMessage[]> {
  const out: QueuedMessage[] = [];
  for (let empty = 0; empty < 2; ) {
    const page = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    if (!page.Messages?.length) {
      empty++;
      continue;
    }
    out.push(...page.Messages.map(queued));
  }
  return out;
}

/**
 * Takes what is in a queue now — received and deleted — for a test that reads a queue while
 * the processor is still writing to it.
 */
export async function takeMessages(sqs: SQSClient, queueUrl: string): Promise<QueuedMessage[]> {
  const out: QueuedMessage[] = [];
  for (;;) {
    const page = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
    );
    const messages = page.Messages ?? [];
    if (messages.length === 0) return out;
    out.push(...messages.map(queued));
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
}

/** Whether a queue holds nothing: no message waiting, in flight (received, not yet deleted) or delayed. */
export async function queueIsEmpty(sqs: SQSClient, queueUrl: string): Promise<boolean> {
  const names = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ] as const;
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...names] }));
  return names.every((name) => Number(out.Attributes?.[name] ?? '0') === 0);
}

/** An email as the emulator recorded it. */
export interface SentEmail {
  from: string;
  to: string[];
  subject: string;
  html: string;
  /** LocalStack records the text part; moto keeps only one body. */
  text: string | undefined;
}

/** Every email the emulator's SES has accepted (moto's data dump, or LocalStack's /_aws/ses). */
export async function sentEmails(): Promise<SentEmail[]> {
  const endpoint = inject('awsEndpoint');
  if (inject('awsEmulator') === 'localstack') {
    const data = (await (await fetch(`${endpoint}/_aws/ses`)).json()) as {
      messages: {
        Source: string;
        Destination?: { ToAddresses?: string[] };
        Subject?: string;
        Body?: { html_part?: string; text_part?: string };
      }[];
    };
    return data.messages.map((m) => ({
      from: m.Source,
      to: m.Destination?.ToAddresses ?? [],
      subject: m.Subject ?? '',
      html: m.Body?.html_part ?? '',
      text: m.Body?.text_part,
    }));
  }
  const response = await fetch(`${endpoint}/moto-api/data.json`);
  if (!response.ok) throw new Error(`moto's data dump answered ${response.status}`);
  const data = (await response.json()) as {
    ses: { Message: { source: string; destinations: { ToAddresses?: string[] }; subject: string; body: string }[] };
  };
  return data.ses.Message.map((m) => ({
    from: m.source,
    to: m.destinations.ToAddresses ?? [],
    subject: m.subject,
    html: m.body,
    text: undefined,
  }));
}

/** Emails sent from one stack's sender. */
export async function emailsFrom(stack: AwsStack): Promise<SentEmail[]> {
  return (await sentEmails()).filter((m) => m.from === stack.sender);
}

/** Polls every `intervalMs` until `check` passes or `timeoutMs` runs out (then the last failure is thrown). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
