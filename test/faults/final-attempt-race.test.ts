import { randomUUID } from 'node:crypto';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import { DeliveryError, encodeEvent, sampleEvent } from '@herald/core';
import { compileConfigTemplates } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import { createEmailer, type Emailer, type EmailMessage, type SendOptions, type SendResult } from '@herald/emailer';
import {
  createSource,
  MemoryLedger,
  Pipeline,
  ProcessorEvents,
  type ReceivedMessage,
  type Source,
} from '@herald/processor';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, drain, emailsFrom, eventually, sendRaw } from '../helpers/aws.js';

/**
 * The real SES emailer, except that its first send waits until the test lets it go and then
 * fails as a throttled provider does: the fault that a second copy of the message must not
 * turn into a lost event.
 */
class FirstSendHeldThenThrottled implements Emailer {
  readonly name = 'ses';
  private first = true;
  private release: () => void = () => {};
  private readonly released = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  private enter: () => void = () => {};
  /** Resolves when the first send has begun. */
  readonly entered = new Promise<void>((resolve) => {
    this.enter = resolve;
  });

  constructor(private readonly real: Emailer) {}

  async send(message: EmailMessage, options?: SendOptions): Promise<SendResult> {
    if (!this.first) return this.real.send(message, options);
    this.first = false;
    this.enter();
    await this.released;
    throw new DeliveryError('ses', 'Throttling: maximum sending rate exceeded', { retryable: true });
  }

  failFirstSend(): void {
    this.release();
  }

  close(): Promise<void> {
    return this.real.close();
  }
}

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0)) await close();
});

async function receiveOne(source: Source): Promise<ReceivedMessage> {
  return eventually(async () => {
    const [message] = await source.receive(1, AbortSignal.timeout(5_000));
    if (!message) throw new Error('no message yet');
    return message;
  });
}

describe('a second copy of a message on its final attempt', () => {
  it('never removes the message while the first copy may still need it: the event is delivered, not lost', async () => {
    const stack = await createStack({ maxAttempts: 2 });
    const source = createSource(stack.config);
    const ses = createEmailer(stack.config, process.env, silentLogger);
    if (!ses) throw new Error('the stack has no emailer');
    const emailer = new FirstSendHeldThenThrottled(ses);
    closing.push(() => source.close());
    const pipeline = new Pipeline({
      config: stack.config,
      templates: compileConfigTemplates(stack.config),
      source,
      emailer,
      channels: new Map(),
      codeRules: [],
      ledger: new MemoryLedger(100),
      events: new ProcessorEvents(),
      logger: silentLogger,
      shutdownSignal: new AbortController().signal,
    });
    const event = sampleEvent({
      id: randomUUID(),
      execution: { project: 'flytesnacks', domain: 'development', name: 'race' },
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    });
    await sendRaw(stack, encodeEvent(event));

    // Copy 1 starts sending and is held there.
    const first = await receiveOne(source);
    const firstDone = pipeline.handle(first);
    await emailer.entered;
    // Its invisibility lapses (as when an extension fails), and SQS hands out copy 2: the
    // final attempt, with a new receipt handle that makes copy 1's stale.
    await stack.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: stack.queueUrl,
        ReceiptHandle: (first as ReceivedMessage & { receiptHandle: string }).receiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const second = await receiveOne(source);
    expect(second.receiveCount).toBe(2);
    await pipeline.handle(second);
    // Copy 1's send now fails transiently; it asks for the message back with its stale handle.
    emailer.failFirstSend();
    await firstDone;

    // Whatever the queue hands out from here on is processed until the event is accounted for.
    // (Reading the dead-letter queue hides what was read, so its count is kept as it is read.)
    let deadLettered = 0;
    const accounted = await eventually(async () => {
      for (const message of await source.receive(10, AbortSignal.timeout(3_000))) await pipeline.handle(message);
      const delivered = (await emailsFrom(stack)).filter((m) => m.subject === 'race failed').length;
      deadLettered += (await drain(stack.sqs, stack.deadLetterUrl)).length;
      expect(delivered + deadLettered, 'the event was neither delivered nor dead-lettered: it is lost').toBe(1);
      return { delivered, deadLettered };
    }, 30_000);
    expect(accounted).toEqual({ delivered: 1, deadLettered: 0 });
  });
});
