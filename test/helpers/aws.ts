import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { awsInfraUp } from '@herald/cli';
import { parseConfig, type ResolvedConfig } from '@herald/core';
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

/**
 * Creates a fresh stack with `herald infra up`'s own code, so every test runs against real
 * SNS/SQS/SES calls on the emulator and none shares a queue with another.
 */
export async function createStack(options: { maxInFlight?: number; maxAttempts?: number } = {}): Promise<AwsStack> {
  const id = `herald-${randomUUID().slice(0, 8)}`;
  const account = await accountId();
  const sender = `${id}@example.com`;
  const yaml = `
notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:${account}:${id}" }
  processor: { queueName: ${id}, accountId: "${account}" }
  emailer:
    sender: ${sender}
    subject: "{{ name }} {{ phase }}"
    body: "<p>Execution <b>{{ name }}</b> {{ phase }}.{{ error }}</p>"
herald:
  processor: { retryBaseDelayMs: 1000, retryMaxDelayMs: 2000, shutdownGraceMs: 5000, maxInFlight: ${options.maxInFlight ?? 32}, maxAttempts: ${options.maxAttempts ?? 8} }
  aws: { waitTimeSeconds: 1, visibilityTimeoutSeconds: 5, receiveConcurrency: 2 }
`;
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

/** Sends a body straight to a queue, bypassing SNS (as another producer, or a broken one, would). */
export async function sendRaw(stack: AwsStack, body: string): Promise<void> {
  await stack.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrl, MessageBody: body }));
}

/** Reads everything in a queue (for the DLQ, after the processor is done). */
export async function drain(
  sqs: SQSClient,
  queueUrl: string,
): Promise<{ body: string; attributes: Record<string, string> }[]> {
  const out: { body: string; attributes: Record<string, string> }[] = [];
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
    for (const m of page.Messages) {
      out.push({
        body: m.Body ?? '',
        attributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue ?? '']),
        ),
      });
    }
  }
  return out;
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
  const data = (await (await fetch(`${endpoint}/moto-api/data.json`)).json()) as {
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

/** Polls until `check` passes or `timeoutMs` runs out (then the last failure is thrown). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
