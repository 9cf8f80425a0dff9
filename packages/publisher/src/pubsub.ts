import type { PubSub, Topic } from '@google-cloud/pubsub';
import { type ExecutionEvent, type ExecutionEventInput, encodeEvent, eventAttributes, HeraldError } from '@herald/core';
import { LazyPubSubClient, type Logger, pubSubResourceExists, silentLogger } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
import { PublishError } from './errors.js';
import { checkMessageSizes } from './limits.js';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';
import { PublishTally } from './tally.js';

/** Imported on first use, not at load: the library costs ~40 MB RSS and startup time that AWS and sandbox users need not pay. */

/**
 * The most Pub/Sub accepts in one message, data and attributes together: 10 MB, counted in
 * decimal as Google's quota page states it (it is also the limit of one publish request).
 */
export const PUBSUB_MAX_MESSAGE_BYTES = 10_000_000;

/** Options for {@link PubSubPublisher}. */
export interface PubSubPublisherOptions {
  projectId: string;
  topicName: string;
  /** Publish with ordering key = execution id, so one execution's events arrive in order. */
  orderingByExecution?: boolean;
  reconnectAttempts?: number;
  reconnectDelaySeconds?: number;
  logger?: Logger;
  /** A client to use instead of building one (it honours PUBSUB_EMULATOR_HOST). */
  client?: PubSub;
  /** Traces each publish and puts its trace context in the messages' attributes; undefined: none. */
  tracing?: Tracing | undefined;
}

/**
 * Publishes events to a Pub/Sub topic: the event JSON as data, `phase`, `project` and `domain`
 * as attributes. The client library batches (up to 100 messages or 10 ms) and retries
 * transient errors with backoff; with ordering on, a failed key is resumed for the next call.
 */
export class PubSubPublisher implements Publisher {
  readonly name = 'pubsub';
  /** {@link PUBSUB_MAX_MESSAGE_BYTES}: data and attributes. */
  readonly maxMessageBytes = PUBSUB_MAX_MESSAGE_BYTES;
  /** The injected client, or the one built on first use. */
  private readonly client: LazyPubSubClient;
  private topic: Topic | undefined;
  private verified: Promise<void> | undefined;

  constructor(private readonly options: PubSubPublisherOptions) {
    this.client = new LazyPubSubClient(options.projectId, options.client);
  }

  /**
   * Checks that the topic exists, retrying `reconnectAttempts` times while Pub/Sub cannot be
   * reached.
   * @throws HeraldError naming a topic that does not exist.
   */
  start(): Promise<void> {
    this.verified ??= this.verifyTopic();
    return this.verified;
  }

  check(events: readonly ExecutionEvent[]): void {
    const limit = `Pub/Sub's limit of ${this.maxMessageBytes} bytes per message (data and attributes)`;
    const traceContextBytes = this.options.tracing?.maxContextBytes ?? 0;
    checkMessageSizes(events, this.maxMessageBytes, limit, (event) => pubsubMessageBytes(event) + traceContextBytes);
  }

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    const complete = prepareEvents(events);
    this.check(complete);
    const tally = new PublishTally(complete);
    const traced = this.options.tracing?.startPublish(
      'gcp_pubsub',
      this.options.topicName,
      complete.map((event) => event.id),
    );
    let topic: Topic;
    try {
      await this.start();
      topic = await this.openTopic();
    } catch (err) {
      const failure = tally.failure(asPublishError(err, this.options.topicName));
      traced?.end(failure);
      throw failure;
    }
    // All go into the client's batch at once; each settles with its own message id or error.
    const settled = await Promise.allSettled(
      complete.map(async (event, index) => {
        const orderingKey = this.options.orderingByExecution ? executionKey(event) : undefined;
        try {
          const messageId = await topic.publishMessage({
            data: Buffer.from(encodeEvent(event)),
            attributes: { ...eventAttributes(event), ...traced?.headers(index) },
            orderingKey,
          });
          tally.accept(index, messageId);
          traced?.published(index, messageId);
        } catch (err) {
          if (orderingKey) topic.resumePublishing(orderingKey);
          tally.refuse(index, (err as Error).message);
          throw err;
        }
      }),
    );
    const firstFailure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (firstFailure) {
      const failure = tally.failure(asPublishError(firstFailure.reason, this.options.topicName));
      traced?.end(failure);
      throw failure;
    }
    traced?.end();
    return tally.results();
  }

  /** Sends what is still batched, then closes the client. Never throws: a failed publish has
   * already rejected its own `publish` call. */
  async close(): Promise<void> {
    try {
      await this.topic?.flush();
    } catch (err) {
      (this.options.logger ?? silentLogger).warn({ err }, 'Pub/Sub flush at close failed');
    }
    await this.client.close();
  }

  /** The topic handle, building the client (and loading the library) on first use. */
  private async openTopic(): Promise<Topic> {
    if (this.topic) return this.topic;
    const client = await this.client.get();
    this.topic ??= client.topic(this.options.topicName, {
      batching: { maxMessages: 100, maxMilliseconds: 10 },
      messageOrdering: this.options.orderingByExecution ?? false,
    });
    return this.topic;
  }

  private async verifyTopic(): Promise<void> {
    let topic: Topic;
    try {
      topic = await this.openTopic();
    } catch (err) {
      this.verified = undefined;
      throw err;
    }
    let exists: boolean;
    try {
      exists = await pubSubResourceExists(
        (options) => topic.getMetadata(options),
        { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
        this.options.logger ?? silentLogger,
      );
    } catch (err) {
      this.verified = undefined;
      throw err;
    }
    if (!exists) {
      this.verified = undefined;
      throw new HeraldError(
        `Pub/Sub topic '${this.options.topicName}' does not exist in project ${this.options.projectId} (create it with \`herald infra up\`)`,
      );
    }
  }
}

/**
 * The size Pub/Sub counts for an event against {@link PUBSUB_MAX_MESSAGE_BYTES}: the data's
 * bytes plus each attribute's key and value.
 */
export function pubsubMessageBytes(event: ExecutionEvent): number {
  let bytes = Buffer.byteLength(encodeEvent(event));
  for (const [key, value] of Object.entries(eventAttributes(event))) {
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  return bytes;
}

function asPublishError(err: unknown, topicName: string): PublishError {
  if (err instanceof PublishError) return err;
  if (err instanceof HeraldError) return new PublishError(err.message, { cause: err });
  return new PublishError(`cannot publish to Pub/Sub topic ${topicName}: ${(err as Error).message}`, { cause: err });
}

/** The ordering key of an event: its execution. */
function executionKey(event: ExecutionEvent): string {
  const { project, domain, name } = event.execution;
  return `${project}/${domain}/${name}`;
}
