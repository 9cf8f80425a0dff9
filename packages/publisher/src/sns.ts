import {
  GetTopicAttributesCommand,
  type MessageAttributeValue,
  PublishBatchCommand,
  type PublishBatchCommandOutput,
  type PublishBatchRequestEntry,
  PublishCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import {
  type ExecutionEvent,
  type ExecutionEventInput,
  encodeEvent,
  eventAttributes,
  HeraldError,
  isUnansweredAwsError,
  type Logger,
  silentLogger,
  withReconnect,
} from '@herald/core';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';

/** Options for {@link SnsPublisher}. */
export interface SnsPublisherOptions {
  topicArn: string;
  region: string;
  endpoint?: string | undefined;
  /** FlyteAdmin's `reconnectAttempts` / `reconnectDelaySeconds`, for the start-up check. */
  reconnectAttempts?: number;
  reconnectDelaySeconds?: number;
  logger?: Logger;
  client?: SNSClient;
  /** Attempts for a batch entry SNS failed on its side (the SDK already retries whole calls). */
  entryAttempts?: number;
}

/** A publish that SNS refused. */
export class PublishError extends HeraldError {
  override name = 'PublishError';
}

const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Publishes events to an SNS topic: the event JSON as the message, `phase`, `project` and
 * `domain` as message attributes (for subscription filter policies). Several events go out with
 * `PublishBatch` (≤ 10 entries, ≤ 256 KiB); throttling and 5xx are retried with backoff by the
 * SDK's standard retry strategy, and batch entries SNS failed on its side are retried here.
 */
export class SnsPublisher implements Publisher {
  readonly name = 'sns';
  private readonly client: SNSClient;
  private verified: Promise<void> | undefined;

  constructor(private readonly options: SnsPublisherOptions) {
    this.client =
      options.client ??
      new SNSClient({ region: options.region, endpoint: options.endpoint, maxAttempts: 5, retryMode: 'standard' });
  }

  /**
   * Checks that the topic exists, retrying `reconnectAttempts` times `reconnectDelaySeconds`
   * apart when SNS cannot be reached.
   * @throws PublishError naming the topic when it does not exist or cannot be reached.
   */
  start(): Promise<void> {
    this.verified ??= this.verifyTopic();
    return this.verified;
  }

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    const complete = prepareEvents(events);
    await this.start();
    if (complete.length === 1) {
      const event = complete[0] as ExecutionEvent;
      try {
        const out = await this.client.send(
          new PublishCommand({
            TopicArn: this.options.topicArn,
            Message: encodeEvent(event),
            MessageAttributes: attributes(event),
          }),
        );
        return [{ eventId: event.id, messageId: out.MessageId ?? '' }];
      } catch (err) {
        throw this.explain(err);
      }
    }
    const results: PublishResult[] = [];
    for (const batch of batches(complete)) results.push(...(await this.publishBatch(batch)));
    return results;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async publishBatch(events: ExecutionEvent[]): Promise<PublishResult[]> {
    const results = new Map<string, PublishResult>();
    let pending = events.map((event, i): [string, ExecutionEvent] => [String(i), event]);
    const attempts = this.options.entryAttempts ?? 5;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const entries: PublishBatchRequestEntry[] = pending.map(([id, event]) => ({
        Id: id,
        Message: encodeEvent(event),
        MessageAttributes: attributes(event),
      }));
      let out: PublishBatchCommandOutput;
      try {
        out = await this.client.send(
          new PublishBatchCommand({ TopicArn: this.options.topicArn, PublishBatchRequestEntries: entries }),
        );
      } catch (err) {
        throw this.explain(err);
      }
      for (const ok of out.Successful ?? []) {
        const event = pending.find(([id]) => id === ok.Id)?.[1];
        if (event && ok.Id) results.set(ok.Id, { eventId: event.id, messageId: ok.MessageId ?? '' });
      }
      const failed = out.Failed ?? [];
      const senderFaults = failed.filter((f) => f.SenderFault);
      if (senderFaults.length > 0) {
        throw new PublishError(
          `SNS refused ${senderFaults.length} event(s): ${senderFaults.map((f) => `${f.Code}: ${f.Message}`).join('; ')}`,
        );
      }
      pending = pending.filter(([id]) => failed.some((f) => f.Id === id));
      if (pending.length > 0 && attempt >= attempts) {
        throw new PublishError(
          `SNS failed ${pending.length} event(s) after ${attempts} attempts: ${failed.map((f) => f.Code).join(', ')}`,
        );
      }
      if (pending.length > 0) await sleep(Math.min(10_000, 100 * 2 ** attempt));
    }
    return events.map((_, i) => results.get(String(i)) as PublishResult);
  }

  private async verifyTopic(): Promise<void> {
    try {
      await withReconnect(
        'SNS',
        { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
        this.options.logger ?? silentLogger,
        isUnansweredAwsError,
        () => this.client.send(new GetTopicAttributesCommand({ TopicArn: this.options.topicArn })),
      );
    } catch (err) {
      this.verified = undefined;
      throw this.explain(err);
    }
  }

  private explain(err: unknown): PublishError {
    const name = (err as Error).name;
    const topic = this.options.topicArn;
    if (name === 'NotFoundException' || name === 'NotFound') {
      return new PublishError(`SNS topic ${topic} does not exist (create it with \`herald infra up\`)`, { cause: err });
    }
    if (name === 'InvalidParameterException' || name === 'InvalidParameter') {
      return new PublishError(`SNS rejected the request for topic '${topic}': ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (name === 'AuthorizationErrorException' || name === 'AuthorizationError') {
      return new PublishError(`not allowed to publish to ${topic}: ${(err as Error).message}`, { cause: err });
    }
    return new PublishError(`cannot publish to ${topic}: ${name}: ${(err as Error).message}`, { cause: err });
  }
}

function attributes(event: ExecutionEvent): Record<string, MessageAttributeValue> {
  return Object.fromEntries(
    Object.entries(eventAttributes(event)).map(([key, value]) => [key, { DataType: 'String', StringValue: value }]),
  );
}

/** Splits events into PublishBatch-sized groups: ≤ 10 entries and ≤ 256 KiB of payload each. */
export function batches(events: ExecutionEvent[]): ExecutionEvent[][] {
  const out: ExecutionEvent[][] = [];
  let current: ExecutionEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(encodeEvent(event)) + 200; // attributes and entry overhead
    if (current.length > 0 && (current.length === MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
