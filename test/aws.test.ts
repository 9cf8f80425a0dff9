import { randomUUID } from 'node:crypto';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type ExecutionEvent, encodeEvent, sampleEvent } from '@herald/core';
import { silentLogger } from '@herald/core/runtime';
import { SesEmailer } from '@herald/emailer';
import { createProcessor, createSource, type Processor } from '@herald/processor';
import { createPublisher, SnsPublisher } from '@herald/publisher';
import { afterEach, describe, expect, it } from 'vitest';
import { type AwsStack, createStack, drain, emailsFrom, eventually, sendRaw } from './helpers/aws.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';

const running: Processor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

function failed(stack: AwsStack, name: string, recipients = [`${name}@example.com`]): ExecutionEvent {
  return sampleEvent({
    id: randomUUID(),
    execution: { project: 'flytesnacks', domain: 'development', name },
    error: { message: 'boom <b>' },
    notifications: [{ phases: ['FAILED'], email: { recipients } }],
    labels: { stack: stack.id },
  });
}

async function startProcessor(stack: AwsStack, deps: Parameters<typeof createProcessor>[1] = {}): Promise<Processor> {
  const processor = createProcessor(stack.config, { logger: silentLogger, ...deps });
  running.push(processor);
  await processor.start();
  return processor;
}

describe('AWS path: SNS → SQS → processor → SES', () => {
  it('delivers a published event as an email with the expected subject, body and recipients', async () => {
    const stack = await createStack();
    await startProcessor(stack);
    const publisher = createPublisher(stack.config);
    await publisher.publish([failed(stack, 'run-1', ['a@example.com', 'b@example.com'])]);
    await publisher.close();

    const [email] = await eventually(async () => {
      const sent = await emailsFrom(stack);
      expect(sent).toHaveLength(1);
      return sent;
    });
    expect(email?.subject).toBe('run-1 failed');
    expect(email?.to).toEqual(['a@example.com', 'b@example.com']);
    expect(email?.html).toBe(
      '<p>Execution <b>run-1</b> failed. The execution failed with error: [boom &lt;b&gt;].</p>',
    );
  });

  it('publishes many events with PublishBatch and delivers each once', async () => {
    const stack = await createStack();
    await startProcessor(stack);
    const publisher = createPublisher(stack.config);
    const events = Array.from({ length: 23 }, (_, i) => failed(stack, `batch-${i}`));
    const results = await publisher.publish(events);
    await publisher.close();
    expect(results.map((r) => r.eventId)).toEqual(events.map((e) => e.id));
    expect(new Set(results.map((r) => r.messageId)).size).toBe(23);

    const sent = await eventually(async () => {
      const all = await emailsFrom(stack);
      expect(all).toHaveLength(23);
      return all;
    });
    expect(new Set(sent.map((m) => m.subject)).size).toBe(23);
  });

  it('accepts raw bodies and SNS envelopes alike', async () => {
    const stack = await createStack();
    await startProcessor(stack);
    const raw = failed(stack, 'raw');
    const enveloped = failed(stack, 'enveloped');
    await sendRaw(stack, encodeEvent(raw));
    await sendRaw(
      stack,
      JSON.stringify({
        Type: 'Notification',
        MessageId: randomUUID(),
        TopicArn: 'arn:x',
        Message: encodeEvent(enveloped),
      }),
    );
    await eventually(async () => {
      expect((await emailsFrom(stack)).map((m) => m.subject).sort()).toEqual(['enveloped failed', 'raw failed']);
    });
  });

  it('decodes SNS envelopes delivered without raw delivery', async () => {
    const stack = await createStack();
    const queueArn = (
      await stack.sqs.send(new GetQueueAttributesCommand({ QueueUrl: stack.queueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn;
    // A second, enveloping subscription of the same queue: every event now arrives twice, once
    // raw and once wrapped, and must still be emailed exactly once.
    const sns = new SNSClient({ region: 'us-east-1' });
    await sns.send(
      new SubscribeCommand({ TopicArn: stack.config.publisher.topicName, Protocol: 'sqs', Endpoint: queueArn }),
    );
    sns.destroy();
    await startProcessor(stack);
    const publisher = createPublisher(stack.config);
    await publisher.publish([failed(stack, 'twice')]);
    await publisher.close();
    await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await emailsFrom(stack)).toHaveLength(1);
  });

  it('dead-letters a malformed body with its reason and keeps delivering the rest', async () => {
    const stack = await createStack();
    await startProcessor(stack);
    await sendRaw(stack, 'this is not an event {');
    const publisher = createPublisher(stack.config);
    await publisher.publish([failed(stack, 'after-bad')]);
    await publisher.close();

    await eventually(async () => expect((await emailsFrom(stack)).map((m) => m.subject)).toEqual(['after-bad failed']));
    const dead = await eventually(async () => {
      const messages = await drain(stack.sqs, stack.deadLetterUrl);
      expect(messages).toHaveLength(1);
      return messages;
    });
    expect(dead[0]?.body).toBe('this is not an event {');
    expect(dead[0]?.attributes['herald.kind']).toBe('undecodable');
    expect(dead[0]?.attributes['herald.reason']).toMatch(/^body: not JSON/);
  });

  it('retries while SES fails and delivers once it recovers', async () => {
    const stack = await createStack();
    const proxy = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 2);
    const sesEndpoint = await proxy.start();
    try {
      await startProcessor(stack, { emailer: new SesEmailer({ region: 'us-east-1', endpoint: sesEndpoint }) });
      const publisher = createPublisher(stack.config);
      await publisher.publish([failed(stack, 'flaky')]);
      await publisher.close();

      await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(1), 30_000);
      // The SDK retried the 503 itself, then the message came back through SQS with backoff.
      expect(proxy.failed).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await emailsFrom(stack)).toHaveLength(1);
    } finally {
      await proxy.stop();
    }
  });

  it('brings a message back through SQS with backoff when SES keeps failing, then delivers once', async () => {
    const stack = await createStack();
    // More failures than the SDK's own attempts, so the pipeline's retry path is exercised.
    const proxy = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 6);
    const sesEndpoint = await proxy.start();
    try {
      const retries: { attempt: number; delayMs: number }[] = [];
      const processor = await startProcessor(stack, {
        emailer: new SesEmailer({ region: 'us-east-1', endpoint: sesEndpoint }),
      });
      processor.events.on('retry_scheduled', (e) => retries.push({ attempt: e.attempt, delayMs: e.delayMs }));
      const publisher = createPublisher(stack.config);
      await publisher.publish([failed(stack, 'down-for-a-while')]);
      await publisher.close();

      await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(1), 45_000);
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries[0]?.attempt).toBe(1);
      expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(500);
    } finally {
      await proxy.stop();
    }
  });

  it('stops on request without losing the messages it had taken', async () => {
    const stack = await createStack();
    const publisher = createPublisher(stack.config);
    await publisher.publish(Array.from({ length: 12 }, (_, i) => failed(stack, `stop-${i}`)));
    await publisher.close();
    // A first processor whose SES never answers: it takes messages, then is told to stop.
    const proxy = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 1_000_000);
    const sesEndpoint = await proxy.start();
    try {
      const first = createProcessor(stack.config, {
        logger: silentLogger,
        emailer: new SesEmailer({ region: 'us-east-1', endpoint: sesEndpoint }),
      });
      let received = 0;
      first.events.on('message_received', () => received++);
      await first.start();
      await eventually(async () => expect(received).toBeGreaterThan(0));
      await first.stop();
    } finally {
      await proxy.stop();
    }
    // A second processor with a working SES gets every one of them.
    await startProcessor(stack);
    await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(12), 45_000);
  });
});

describe('SQS source', () => {
  it('keeps polling through connection resets and delivers what was published meanwhile', async () => {
    const stack = await createStack();
    const proxy = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
    proxy.mode = 'reset';
    const endpoint = await proxy.start();
    try {
      const config = { ...stack.config, awsTransport: { ...stack.config.awsTransport, endpoint } };
      const processor = createProcessor(config, { logger: silentLogger });
      running.push(processor);
      const errors: string[] = [];
      processor.events.on('source_error', (e) => errors.push(e.operation));
      await processor.start();
      // From now on every connection is cut until 25 requests have failed: more than the
      // SDK's own retries, so the receive loop has to back off and try again itself.
      proxy.failures = proxy.failed + 25;
      const publisher = createPublisher(stack.config);
      await publisher.publish([failed(stack, 'after-resets')]);
      await publisher.close();
      await eventually(
        async () => expect((await emailsFrom(stack)).map((m) => m.subject)).toEqual(['after-resets failed']),
        45_000,
      );
      expect(errors).toContain('receive');
    } finally {
      await proxy.stop();
    }
  });
  it('stops under load without leaving a message invisible: what its last receives bring goes straight back', async () => {
    const stack = await createStack();
    await Promise.all(Array.from({ length: 120 }, (_, i) => sendRaw(stack, encodeEvent(failed(stack, `load-${i}`)))));
    const processor = createProcessor(stack.config, { logger: silentLogger });
    let received = 0;
    processor.events.on('message_received', () => received++);
    let acked = 0;
    processor.events.on('message_settled', (e) => {
      if (e.outcome === 'acked') acked++;
    });
    // A delivery that failed under load comes back after its backoff: invisible until then, rightly.
    let backingOff = 0;
    processor.events.on('retry_scheduled', (e) => {
      if (e.delayMs > 0) backingOff++;
    });
    await processor.start();
    // Told to stop mid-drain, while receives are on their way back with messages.
    await eventually(async () => expect(received).toBeGreaterThanOrEqual(20), 30_000);
    await processor.stop();

    const counts = await stack.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const visible = Number(counts.Attributes?.ApproximateNumberOfMessages);
    const invisible = Number(counts.Attributes?.ApproximateNumberOfMessagesNotVisible);
    expect(visible + invisible).toBe(120 - acked);
    expect(invisible, `invisible beyond the ${backingOff} backing off`).toBeLessThanOrEqual(backingOff);
  });
});

describe('SQS dead letters', () => {
  it('are recorded whatever the reason holds and however large the message is', async () => {
    const stack = await createStack();
    const source = createSource(stack.config);
    try {
      // A message as large as SQS allows, with attributes of its own.
      const body = 'x'.repeat(262_144 - 200);
      await stack.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.queueUrl,
          MessageBody: body,
          MessageAttributes: { phase: { DataType: 'String', StringValue: 'FAILED' } },
        }),
      );
      const [message] = await eventually(async () => {
        const got = await source.receive(1, AbortSignal.timeout(5_000));
        expect(got).toHaveLength(1);
        return got;
      });
      if (!message) throw new Error('no message');
      // Control characters and half a surrogate pair, as a decode error may quote them.
      await source.deadLetter(message, {
        kind: 'undecodable',
        reason: `bad \u0000\u001b[31m \uD800 ${'r'.repeat(5000)}`,
      });

      const [dead] = await drain(stack.sqs, stack.deadLetterUrl);
      expect(dead?.attributes['herald.kind']).toBe('undecodable');
      expect(dead?.attributes['herald.reason']).toMatch(/^bad \uFFFD\uFFFD\[31m \uFFFD r+$/);
      expect(Number(dead?.attributes['herald.bodyTruncatedFrom'] ?? body.length)).toBe(body.length);
      expect(body.startsWith(dead?.body ?? '-')).toBe(true);
    } finally {
      await source.close();
    }
  });
});

describe('SNS publisher', () => {
  it('says which topic does not exist', async () => {
    const stack = await createStack();
    const publisher = new SnsPublisher({
      topicArn: `${stack.config.publisher.topicName}-missing`,
      region: 'us-east-1',
    });
    await expect(publisher.publish([failed(stack, 'x')])).rejects.toThrow(
      /does not exist \(create it with `herald infra up`\)/,
    );
    await publisher.close();
  });
});
