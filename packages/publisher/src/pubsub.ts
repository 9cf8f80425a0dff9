import { PubSub, type Topic } from '@google-cloud/pubsub';
import {
  type ExecutionEvent,
  type ExecutionEventInput,
  encodeEvent,
  eventAttributes,
  HeraldError,
  type Logger,
  silentLogger,
  withReconnect,
} from '@herald/core';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';

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
}

/**
 * Publishes events to a Pub/Sub topic: the event JSON as data, `phase`, `project` and `domain`
 * as attributes. The client library batches (up to 100 messages or 10 ms) and retries
 * transient errors with backoff; with ordering on, a failed key is resumed for the next call.
 */
export class PubSubPublisher implements Publisher {
  readonly name = 'pubsub';
  private readonly client: PubSub;
  private readonly topic: Topic;
  private verified: Promise<void> | undefined;

  constructor(private readonly options: PubSubPublisherOptions) {
    this.client = options.client ?? new PubSub({ projectId: options.projectId });
    this.topic = this.client.topic(options.topicName, {
      batching: { maxMessages: 100, maxMilliseconds: 10 },
      messageOrdering: options.orderingByExecution ?? false,
    });
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

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    const complete = prepareEvents(events);
    await this.start();
    // All go into the client's batch at once; each resolves with its own message id.
    return Promise.all(
      complete.map(async (event) => {
        const orderingKey = this.options.orderingByExecution ? executionKey(event) : undefined;
        try {
          const messageId = await this.topic.publishMessage({
            data: Buffer.from(encodeEvent(event)),
            attributes: eventAttributes(event),
            orderingKey,
          });
          return { eventId: event.id, messageId };
        } catch (err) {
          if (orderingKey) this.topic.resumePublishing(orderingKey);
          throw new HeraldError(
            `cannot publish to Pub/Sub topic ${this.options.topicName}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      }),
    );
  }

  /** Sends what is still batched, then closes the client. Never throws: a failed publish has
   * already rejected its own `publish` call. */
  async close(): Promise<void> {
    try {
      await this.topic.flush();
    } catch (err) {
      (this.options.logger ?? silentLogger).warn({ err }, 'Pub/Sub flush at close failed');
    }
    await this.client.close().catch(() => {});
  }

  private async verifyTopic(): Promise<void> {
    let exists: boolean;
    try {
      [exists] = await withReconnect(
        'Pub/Sub',
        { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
        this.options.logger ?? silentLogger,
        () => true,
        () => this.topic.exists(),
      );
    } catch (err) {
      this.verified = undefined;
      throw new HeraldError(`cannot reach Pub/Sub: ${(err as Error).message}`, { cause: err });
    }
    if (!exists) {
      this.verified = undefined;
      throw new HeraldError(
        `Pub/Sub topic '${this.options.topicName}' does not exist in project ${this.options.projectId} (create it with \`herald infra up\`)`,
      );
    }
  }
}

/** The ordering key of an event: its execution. */
function executionKey(event: ExecutionEvent): string {
  const { project, domain, name } = event.execution;
  return `${project}/${domain}/${name}`;
}
