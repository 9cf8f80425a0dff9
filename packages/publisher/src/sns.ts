import type {
  MessageAttributeValue,
  PublishBatchCommandOutput,
  PublishBatchRequestEntry,
  SNSClient,
} from '@aws-sdk/client-sns';
import { type ExecutionEvent, type ExecutionEventInput, encodeEvent, eventAttributes } from '@herald/core';
import {
  backoffDelayMs,
  isUnansweredAwsError,
  LazyAwsClient,
  type Logger,
  queueClientSettings,
  silentLogger,
  withReconnect,
} from '@herald/core/runtime';
import type { PublishTrace, Tracing } from '@herald/core/tracing';
import { PublishError } from './errors.js';
import { checkMessageSizes } from './limits.js';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';
import { PublishTally } from './tally.js';

type SnsModule = typeof import('@aws-sdk/client-sns');

let loading: Promise<SnsModule> | undefined;

/** The SNS client library, imported when a publisher first starts (its first publish, at the latest). */
function loadSns(): Promise<SnsModule> {
  loading ??= import('@aws-sdk/client-sns');
  return loading;
}

/** Options for {@link SnsPublisher}. */
export interface SnsPublisherOptions {
  topicArn: string;
  region: string;
  endpoint?: string | undefined;
  /** FlyteAdmin's `reconnectAttempts` / `reconnectDelaySeconds`, for the start-up check. */
  reconnectAttempts?: number;
  reconnectDelaySeconds?: number;
  logger?: Logger;
  /** The client to use; otherwise one is built when the publisher starts (loading the SDK then). */
  client?: SNSClient;
  /** Attempts for a batch entry SNS failed on its side (the SDK already retries whole calls). */
  entryAttempts?: number;
  /** Traces each publish and puts its trace context in the messages' attributes; undefined: none. */
  tracing?: Tracing | undefined;
}

/**
 * The most SNS accepts in one message, body and message attributes (name, type and value)
 * together; also the most one `PublishBatch` request may carry.
 */
export const SNS_MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_BATCH_ENTRIES = 10;

/**
 * Wait before resending the entries SNS failed on its side: 200 ms, doubling, at most 10 s. Short,
 * because the caller of `publish` is waiting, and the SDK has already backed off for whole calls.
 */
const ENTRY_RETRY_BACKOFF = { baseDelayMs: 200, maxDelayMs: 10_000 };

/**
 * Publishes events to an SNS topic: the event JSON as the message, `phase`, `project` and
 * `domain` as message attributes (for subscription filter policies). Several events go out with
 * `PublishBatch` (≤ 10 entries, ≤ 256 KiB); throttling and 5xx are retried with backoff by the
 * SDK's standard retry strategy, and batch entries SNS failed on its side are retried here.
 */
export class SnsPublisher implements Publisher {
  readonly name = 'sns';
  /** {@link SNS_MAX_MESSAGE_BYTES}: body and message attributes. */
  readonly maxMessageBytes = SNS_MAX_MESSAGE_BYTES;
  /** Given, or built when the publisher starts: the SDK is imported only then. */
  private readonly clients: LazyAwsClient<SnsModule, SNSClient>;
  private verified: Promise<void> | undefined;

  constructor(private readonly options: SnsPublisherOptions) {
    this.clients = new LazyAwsClient(loadSns, (sdk) => new sdk.SNSClient(queueClientSettings(options)), options.client);
  }

  /**
   * Checks that the topic exists, retrying `reconnectAttempts` times `reconnectDelaySeconds`
   * apart when SNS cannot be reached. The SDK is loaded and the client built (unless one was
   * given) here.
   * @throws PublishError naming the topic when it does not exist or cannot be reached.
   */
  start(): Promise<void> {
    this.verified ??= this.verifyTopic();
    return this.verified;
  }

  check(events: readonly ExecutionEvent[]): void {
    const limit = `SNS's limit of ${this.maxMessageBytes} bytes per message (body and attributes)`;
    checkMessageSizes(events, this.maxMessageBytes, limit, (event) => this.messageBytes(event));
  }

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    const complete = prepareEvents(events);
    this.check(complete);
    const tally = new PublishTally(complete);
    const traced = this.options.tracing?.startPublish(
      'aws.sns',
      topicName(this.options.topicArn),
      complete.map((event) => event.id),
    );
    try {
      await this.start();
      const { sdk, client } = await this.clients.get();
      if (complete.length === 1) {
        const event = complete[0] as ExecutionEvent;
        const out = await client.send(
          new sdk.PublishCommand({
            TopicArn: this.options.topicArn,
            Message: encodeEvent(event),
            MessageAttributes: attributes(event, traced?.headers(0)),
          }),
        );
        tally.accept(0, out.MessageId ?? '');
      } else {
        // One batch after another, stopping at the first that does not go out whole: the rest
        // would most likely meet the same throttling or outage, and the caller is told which
        // events are out either way.
        const indexed = complete.map((event, index) => ({ index, event }));
        for (const batch of batches(indexed, (event) => this.messageBytes(event))) {
          await this.publishBatch(sdk, client, batch, tally, traced);
        }
      }
    } catch (err) {
      const failure = tally.failure(err instanceof PublishError ? err : this.explain(err));
      traced?.end(failure);
      throw failure;
    }
    const results = tally.results();
    if (traced) {
      for (const [index, result] of results.entries()) traced.published(index, result.messageId);
      traced.end();
    }
    return results;
  }

  /** An event's size as SNS counts it, with room for the trace context when tracing is on. */
  private messageBytes(event: ExecutionEvent): number {
    const traceContextBytes = this.options.tracing ? this.options.tracing.maxContextBytes + 2 * 'String'.length : 0;
    return snsMessageBytes(event) + traceContextBytes;
  }

  async close(): Promise<void> {
    this.clients.close();
  }

  /**
   * Publishes one batch, retrying the entries SNS failed on its side. Entries SNS accepted or
   * refused as the sender's fault are recorded in `tally` as they are answered.
   * @throws PublishError when any entry of the batch was not published.
   */
  private async publishBatch(
    sdk: SnsModule,
    client: SNSClient,
    batch: readonly IndexedEvent[],
    tally: PublishTally,
    traced: PublishTrace | undefined,
  ): Promise<void> {
    let pending = batch;
    const attempts = this.options.entryAttempts ?? 5;
    for (let attempt = 1; pending.length > 0; attempt++) {
      // Entry ids are the events' indexes in the publish call: unique in the batch, as SNS asks.
      const entries: PublishBatchRequestEntry[] = pending.map(({ index, event }) => ({
        Id: String(index),
        Message: encodeEvent(event),
        MessageAttributes: attributes(event, traced?.headers(index)),
      }));
      let out: PublishBatchCommandOutput;
      try {
        out = await client.send(
          new sdk.PublishBatchCommand({ TopicArn: this.options.topicArn, PublishBatchRequestEntries: entries }),
        );
      } catch (err) {
        throw this.explain(err);
      }
      for (const ok of out.Successful ?? []) tally.accept(Number(ok.Id), ok.MessageId ?? '');
      const failed = out.Failed ?? [];
      const senderFaults = failed.filter((f) => f.SenderFault);
      for (const f of senderFaults) tally.refuse(Number(f.Id), `SNS refused it: ${f.Code}: ${f.Message}`);
      const retryable = failed.filter((f) => !f.SenderFault);
      pending = pending.filter(({ index }) => retryable.some((f) => f.Id === String(index)));
      if (pending.length > 0 && attempt >= attempts) {
        throw new PublishError(
          `SNS failed ${pending.length} event(s) after ${attempts} attempts: ${retryable.map((f) => f.Code).join(', ')}`,
        );
      }
      // Jittered so that publishers throttled together do not resend together.
      if (pending.length > 0) await sleep(backoffDelayMs(ENTRY_RETRY_BACKOFF, attempt));
    }
    if (tally.anyRefused) {
      throw new PublishError(`SNS refused part of a batch for topic ${this.options.topicArn}`);
    }
  }

  private async verifyTopic(): Promise<void> {
    try {
      const { sdk, client } = await this.clients.get();
      await withReconnect(
        'SNS',
        { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
        this.options.logger ?? silentLogger,
        isUnansweredAwsError,
        () => client.send(new sdk.GetTopicAttributesCommand({ TopicArn: this.options.topicArn })),
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

/** The event's attributes (and its trace context, when traced) as SNS message attributes. */
function attributes(
  event: ExecutionEvent,
  traceContext?: Record<string, string>,
): Record<string, MessageAttributeValue> {
  return Object.fromEntries(
    Object.entries({ ...eventAttributes(event), ...traceContext }).map(([key, value]) => [
      key,
      { DataType: 'String', StringValue: value },
    ]),
  );
}

/** `arn:aws:sns:us-east-1:000000000000:herald` → `herald`, the name traces show. */
function topicName(topicArn: string): string {
  return topicArn.slice(topicArn.lastIndexOf(':') + 1);
}

/** An event with its position in the publish call. */
export interface IndexedEvent {
  index: number;
  event: ExecutionEvent;
}

/**
 * The size SNS counts for an event against {@link SNS_MAX_MESSAGE_BYTES}: the UTF-8 bytes of
 * the message, plus each message attribute's name, data type and value.
 */
export function snsMessageBytes(event: ExecutionEvent): number {
  let bytes = Buffer.byteLength(encodeEvent(event));
  for (const [name, value] of Object.entries(attributes(event))) {
    bytes +=
      Buffer.byteLength(name) + Buffer.byteLength(value.DataType ?? '') + Buffer.byteLength(value.StringValue ?? '');
  }
  return bytes;
}

/**
 * Splits events into PublishBatch-sized groups: ≤ 10 entries and ≤ 256 KiB of messages and
 * attributes each. Every event must fit on its own (checked before publishing).
 */
export function batches<T extends { event: ExecutionEvent }>(
  events: readonly T[],
  sizeOf: (event: ExecutionEvent) => number = snsMessageBytes,
): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of events) {
    const size = sizeOf(item.event);
    if (current.length > 0 && (current.length === MAX_BATCH_ENTRIES || bytes + size > SNS_MAX_MESSAGE_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
