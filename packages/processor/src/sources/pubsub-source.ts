import type { Message, PubSub, Subscription } from '@google-cloud/pubsub';
import { HeraldError } from '@herald/core';
import {
  backoffDelayMs,
  LazyPubSubClient,
  type Logger,
  loadPubSub,
  pubSubResourceExists,
  silentLogger,
} from '@herald/core/runtime';
import type { MessageOrigin } from '@herald/core/tracing';
import { deadLetterAttributes } from './dead-letter-attributes.js';
import type { DeadLetterRecord, ReceivedMessage, Source } from './source.js';

/** Pub/Sub: 100 attributes per message, 1024 bytes per value. */
const PUBSUB_ATTRIBUTE_LIMITS = { maxAttributes: 100, maxReasonBytes: 1000, maxValueBytes: 1024 };

/** Imported on first use, not at load: the library costs ~27 MB RSS and startup time that AWS and sandbox users need not pay. */

/**
 * Wait before reopening a failed stream: 1 s, doubling per failure in a row, at most 30 s. The
 * library has already retried what it could, so a short first wait is enough.
 */
const REOPEN_BACKOFF = { baseDelayMs: 1000, maxDelayMs: 30_000 };

/** Options for {@link PubSubSource}. */
export interface PubSubSourceOptions {
  projectId: string;
  /** FlyteAdmin's `processor.queueName`: the subscription. */
  subscriptionName: string;
  deadLetterTopicName: string;
  /**
   * Flow control: messages the client library holds at once, those being delivered and those
   * waiting for a free slot (the factory allows four times Herald's maxInFlight).
   */
  maxOutstandingMessages: number;
  maxOutstandingBytes: number;
  reconnectAttempts?: number;
  reconnectDelaySeconds?: number;
  logger?: Logger;
  client?: PubSub;
}

/** A message from the subscription: the client library's message object settles it. */
export interface PubSubReceived extends ReceivedMessage {
  readonly message: Message;
}

/**
 * Consumes a Pub/Sub subscription with streaming pull. The client library does flow control
 * (at most `maxOutstandingMessages` / `maxOutstandingBytes` held) and extends the lease of every
 * message until it is acked or nacked; this source turns its push of messages into the pull
 * that the processor's receive loop expects.
 *
 * - ack after settle; retry later = nack, redelivered after the subscription's retry-policy
 *   backoff (set by `herald infra up`);
 * - undecodable messages and given-up deliveries are published to the dead-letter topic with
 *   the reason as attributes; repeated crashes reach it through the subscription's
 *   dead-letter policy;
 * - a stream error is logged and the stream reopened with backoff;
 * - closing nacks everything still held, so another processor gets it at once.
 */
export class PubSubSource implements Source<PubSubReceived> {
  readonly name = 'pubsub';
  readonly maxBatch = 100;
  readonly origin: MessageOrigin;
  /** The injected client, or the one built on first use. */
  private readonly client: LazyPubSubClient;
  private readonly logger: Logger;
  private subscription: Subscription | undefined;
  private readonly buffered: Message[] = [];
  private readonly waiters = new Set<() => void>();
  private started: Promise<void> | undefined;
  private closed = false;
  private reopenFailures = 0;
  /**
   * The longest the subscription's retry policy makes Pub/Sub wait before redelivering a
   * nacked message. Undefined when it has no retry policy: a nack would come straight back.
   */
  private maxServerBackoffMs: number | undefined;
  /** True when the subscription does not count deliveries (no dead-letter policy). */
  private countLocally = false;
  private readonly localCounts = new Map<string, number>();
  /** Messages waiting out a retry delay here, by their timer. */
  private readonly delayedNacks = new Map<NodeJS.Timeout, Message>();

  constructor(private readonly options: PubSubSourceOptions) {
    this.client = new LazyPubSubClient(options.projectId, options.client);
    this.logger = options.logger ?? silentLogger;
    this.origin = { system: 'gcp_pubsub', destination: options.subscriptionName };
  }

  /**
   * Checks that the subscription exists (retrying while Pub/Sub cannot be reached), then opens
   * the stream.
   * @throws HeraldError naming a subscription that does not exist.
   */
  start(): Promise<void> {
    this.started ??= this.open();
    return this.started;
  }

  async receive(max: number, signal: AbortSignal): Promise<PubSubReceived[]> {
    await this.start();
    while (this.buffered.length === 0) {
      if (signal.aborted || this.closed) return [];
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
    return this.buffered.splice(0, max).map(
      (message): PubSubReceived => ({
        id: message.id,
        body: message.data,
        attributes: { ...message.attributes },
        // Pub/Sub counts deliveries only on subscriptions with a dead-letter policy.
        receiveCount: this.countLocally ? this.countDelivery(message.id) : Math.max(1, message.deliveryAttempt || 1),
        message,
      }),
    );
  }

  async ack({ message }: PubSubReceived): Promise<void> {
    message.ack();
  }

  async retryLater({ message: held }: PubSubReceived, delayMs: number): Promise<void> {
    const serverBackoff = this.maxServerBackoffMs;
    if (delayMs <= 0 || this.closed || (serverBackoff !== undefined && delayMs <= serverBackoff)) {
      // The subscription's retry policy spaces the redelivery on the server; holding the
      // message here would count against flow control.
      held.nack();
      return;
    }
    // Longer than the retry policy ever waits (a claim's lease, which another replica may hold
    // until it ends; a provider's Retry-After), or no retry policy at all (a nack would come
    // straight back): the delay is waited out here, the library extending the lease meanwhile,
    // and the server's backoff (not always honoured: the emulator redelivers at once) comes on
    // top. Nacked at once, the message would come back again and again before the delay is
    // over, and each delivery counts towards the subscription's dead-letter policy, which would
    // move it to the dead-letter topic with no reason given.
    const timer = setTimeout(
      () => {
        this.delayedNacks.delete(timer);
        held.nack();
      },
      Math.min(delayMs, 60_000),
    );
    this.delayedNacks.set(timer, held);
  }

  async deadLetter(message: PubSubReceived, record: DeadLetterRecord): Promise<void> {
    const attributes = deadLetterAttributes(message, record, PUBSUB_ATTRIBUTE_LIMITS);
    const data = typeof message.body === 'string' ? Buffer.from(message.body) : Buffer.from(message.body);
    const client = await this.client.get();
    await client.topic(this.options.deadLetterTopicName).publishMessage({ data, attributes });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [timer, message] of this.delayedNacks) {
      clearTimeout(timer);
      message.nack();
    }
    this.delayedNacks.clear();
    for (const wake of [...this.waiters]) wake();
    for (const message of this.buffered.splice(0)) message.nack();
    await this.subscription?.close();
    await this.client.close();
  }

  private async open(): Promise<void> {
    const { subscriptionName, projectId } = this.options;
    const { Duration } = await loadPubSub();
    const client = await this.client.get();
    const subscription = client.subscription(subscriptionName, {
      flowControl: {
        maxMessages: this.options.maxOutstandingMessages,
        maxBytes: this.options.maxOutstandingBytes,
        allowExcessMessages: false,
      },
      // The library frees a flow-control slot only once the ack is sent, and sends acks every
      // 100 ms by default: with 64 outstanding that capped a subscription near 540 messages/s
      // on the emulator, and 10 ms gave ~1,800/s (bench/emulators.ts).
      batching: { maxMilliseconds: 10 },
      // Leases are extended while a delivery runs, for up to an hour.
      maxExtensionTime: Duration.from({ minutes: 60 }),
      closeOptions: { behavior: 'NACK' },
    });
    await this.checkExists(subscription, subscriptionName, projectId);
    await this.readPolicies(subscription);
    subscription.on('message', (message: Message) => {
      this.reopenFailures = 0;
      this.buffered.push(message);
      for (const wake of [...this.waiters]) wake();
    });
    subscription.on('error', (err: Error) => void this.reopen(err));
    this.subscription = subscription;
  }

  /** The library retries transient stream errors itself; what reaches here needs a new stream. */
  private async reopen(err: Error): Promise<void> {
    if (this.closed || !this.subscription) return;
    this.reopenFailures++;
    // Jittered: every processor on the subscription sees the same outage and would otherwise
    // reopen its stream at the same moment.
    const waitMs = backoffDelayMs(REOPEN_BACKOFF, this.reopenFailures);
    this.logger.warn({ err, waitMs }, 'Pub/Sub stream failed; reopening');
    try {
      await this.subscription.close();
    } catch {
      // already closed
    }
    // Closing nacked everything the library held; the buffered copies will be redelivered.
    this.buffered.length = 0;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    if (this.closed) return;
    this.subscription.open();
  }

  /** Looks at the subscription's policies: Herald fills in for a missing one, and says so. */
  private async readPolicies(subscription: Subscription): Promise<void> {
    let metadata: { retryPolicy?: RetryPolicy | null; deadLetterPolicy?: unknown };
    try {
      [metadata] = (await subscription.getMetadata()) as unknown as [
        { retryPolicy?: RetryPolicy | null; deadLetterPolicy?: unknown },
      ];
    } catch (err) {
      this.logger.warn({ err }, 'cannot read the subscription policies; assuming none');
      metadata = {};
    }
    const retry = metadata.retryPolicy;
    // 600 s: Pub/Sub's default for a retry policy that leaves its maximum out.
    this.maxServerBackoffMs = retry ? (durationMs(retry.maximumBackoff) ?? 600_000) : undefined;
    this.countLocally = !metadata.deadLetterPolicy;
    if (!metadata.retryPolicy || !metadata.deadLetterPolicy) {
      this.logger.warn(
        {
          subscription: this.options.subscriptionName,
          retryPolicy: Boolean(metadata.retryPolicy),
          deadLetterPolicy: Boolean(metadata.deadLetterPolicy),
        },
        'subscription lacks a retry or dead-letter policy: Herald waits out retries and counts attempts itself (run `herald infra up` to set them)',
      );
    }
  }

  /** This process's count of deliveries of one message (bounded memory). */
  private countDelivery(id: string): number {
    const count = (this.localCounts.get(id) ?? 0) + 1;
    this.localCounts.delete(id);
    this.localCounts.set(id, count);
    if (this.localCounts.size > 100_000) {
      const oldest = this.localCounts.keys().next().value;
      if (oldest !== undefined) this.localCounts.delete(oldest);
    }
    return count;
  }

  private async checkExists(subscription: Subscription, name: string, projectId: string): Promise<void> {
    const exists = await pubSubResourceExists(
      (options) => subscription.getMetadata(options),
      { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
      this.logger,
    );
    if (!exists) {
      throw new HeraldError(
        `Pub/Sub subscription '${name}' does not exist in project ${projectId} (create it with \`herald infra up\`)`,
      );
    }
  }
}

/** A subscription's retry policy as the client library reads it. */
interface RetryPolicy {
  maximumBackoff?: Duration | null;
}

/** A protobuf Duration: `seconds` an int64 (a string, a number or a Long, as the library decodes it). */
interface Duration {
  seconds?: unknown;
  nanos?: number | null;
}

function durationMs(duration: Duration | null | undefined): number | undefined {
  if (!duration) return undefined;
  const ms = Number(String(duration.seconds ?? 0)) * 1000 + Number(duration.nanos ?? 0) / 1e6;
  return Number.isFinite(ms) ? ms : undefined;
}
