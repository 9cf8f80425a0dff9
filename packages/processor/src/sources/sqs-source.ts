import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import { HeraldError } from '@herald/core';
import {
  abortableBy,
  isNonExistentQueueError,
  isUnansweredAwsError,
  LazyAwsClient,
  type Logger,
  queueClientSettings,
  settlesWithin,
  silentLogger,
  withReconnect,
} from '@herald/core/runtime';
import type { MessageOrigin } from '@herald/core/tracing';
import { deadLetterAttributes, truncateUtf8 } from './dead-letter-attributes.js';
import type { DeadLetterRecord, ReceivedMessage, Source } from './source.js';
import { DeleteBatcher } from './sqs-delete-batcher.js';
import { loadSqs, type SqsModule } from './sqs-sdk.js';
import { VisibilityKeeper } from './sqs-visibility.js';

/** Options for {@link SqsSource}. */
export interface SqsSourceOptions {
  /** FlyteAdmin's `processor.queueName` and `processor.accountId`. */
  queueName: string;
  accountId: string;
  deadLetterQueueName: string;
  region: string;
  endpoint?: string | undefined;
  visibilityTimeoutSeconds: number;
  waitTimeSeconds: number;
  receiveConcurrency: number;
  /** FlyteAdmin's `reconnectAttempts` / `reconnectDelaySeconds`, for the start-up lookup. */
  reconnectAttempts?: number;
  reconnectDelaySeconds?: number;
  logger?: Logger;
  /** The client to use; otherwise one is built when the source starts (loading the SDK then). */
  client?: SQSClient;
}

/** A message as SQS handed it out: its receipt handle settles it. */
export interface SqsReceived extends ReceivedMessage {
  readonly receiptHandle: string;
}

/**
 * Consumes an SQS queue (raw bodies or SNS envelopes alike).
 *
 * - long polling, up to 10 messages per receive, `receiveConcurrency` receives at once;
 * - received messages are kept invisible while they are delivered ({@link VisibilityKeeper});
 * - acked messages are deleted in batches; retries come back through ChangeMessageVisibility;
 * - dead letters are copied to `<queueName>-dlq` with the reason as message attributes;
 * - stopping never cuts a long poll (what SQS handed to it would stay invisible): receives the
 *   processor stopped waiting for finish, and closing hands back (visibility 0) what they
 *   brought and every message still held.
 */
export class SqsSource implements Source<SqsReceived> {
  readonly name = 'sqs';
  readonly maxBatch = 10;
  /**
   * Under a backlog, slots free up one at a time; asking as each one frees would spend a
   * ReceiveMessage (and later a DeleteMessageBatch) on one or two messages.
   */
  readonly receiveBatch = 10;
  readonly receiveConcurrency: number;
  readonly origin: MessageOrigin;
  /** Given, or built when the source starts: the SDK is imported only then. */
  private readonly clients: LazyAwsClient<SqsModule, SQSClient>;
  private readonly logger: Logger;
  private queueUrl = '';
  private deadLetterUrl = '';
  private keeper: VisibilityKeeper | undefined;
  private deleter: DeleteBatcher | undefined;
  private started: Promise<void> | undefined;
  /** Receives the caller stopped waiting for, still running so nothing they bring is lost. */
  private readonly outstanding = new Set<Promise<void>>();
  /** Cuts receive requests outright: only when close has waited longer than a long poll lasts. */
  private readonly cutReceives = new AbortController();

  constructor(private readonly options: SqsSourceOptions) {
    this.origin = { system: 'aws_sqs', destination: options.queueName };
    this.clients = new LazyAwsClient(loadSqs, (sdk) => new sdk.SQSClient(queueClientSettings(options)), options.client);
    this.logger = options.logger ?? silentLogger;
    this.receiveConcurrency = options.receiveConcurrency;
  }

  /**
   * Looks up the queue and dead-letter queue URLs (GetQueueUrl with the owner account, as
   * FlyteAdmin does), retrying while SQS cannot be reached. The SDK is loaded and the client
   * built (unless one was given) here.
   * @throws HeraldError naming a queue that does not exist.
   */
  start(): Promise<void> {
    this.started ??= this.resolveQueues();
    return this.started;
  }

  async receive(max: number, signal: AbortSignal): Promise<SqsReceived[]> {
    await this.start();
    const { sdk, client } = await this.clients.get();
    if (signal.aborted) return [];
    // The caller's signal stops the wait, never the request: SQS may already have handed out
    // messages to a long poll that is cut, and they would stay invisible for a whole
    // visibility timeout. A request the caller stopped waiting for finishes on its own and
    // what it brings goes straight back to the queue (see close).
    const request = client.send(
      new sdk.ReceiveMessageCommand(
        abortableBy(this.cutReceives.signal, {
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: Math.max(1, Math.min(this.maxBatch, max)),
          WaitTimeSeconds: this.options.waitTimeSeconds,
          VisibilityTimeout: this.options.visibilityTimeoutSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          MessageAttributeNames: ['All'],
        }),
      ),
    );
    const out = await untilAborted(request, signal);
    if (out === ABANDONED) {
      const late: Promise<void> = request
        .then((answer) => this.handBack((answer.Messages ?? []).map((m) => m.ReceiptHandle ?? '')))
        .catch(() => {})
        .finally(() => this.outstanding.delete(late));
      this.outstanding.add(late);
      return [];
    }
    return (out.Messages ?? []).map((m) => {
      const received: SqsReceived = {
        id: m.MessageId ?? '',
        body: m.Body ?? '',
        attributes: flattenAttributes(m.MessageAttributes),
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
        receiptHandle: m.ReceiptHandle ?? '',
      };
      this.keeper?.track(received.id, received.receiptHandle);
      return received;
    });
  }

  async ack({ receiptHandle }: SqsReceived): Promise<void> {
    this.keeper?.untrack(receiptHandle);
    await this.deleter?.delete(receiptHandle);
  }

  async retryLater({ receiptHandle }: SqsReceived, delayMs: number): Promise<void> {
    this.keeper?.untrack(receiptHandle);
    await this.keeper?.quiesce();
    const { sdk, client } = await this.clients.get();
    await client.send(
      new sdk.ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        // SQS counts in whole seconds, at most 12 hours.
        VisibilityTimeout: Math.min(43_200, Math.max(0, Math.ceil(delayMs / 1000))),
      }),
    );
  }

  async deadLetter(message: SqsReceived, record: DeadLetterRecord): Promise<void> {
    const attributes = deadLetterAttributes(message, record, SQS_ATTRIBUTE_LIMITS);
    const text = typeof message.body === 'string' ? message.body : Buffer.from(message.body).toString('utf8');
    // SQS refuses an empty body; a dead letter must still be recorded.
    const body = fitWithinSqsLimit(
      text === '' ? '(empty message body)' : text,
      attributes,
      Object.keys(message.attributes),
    );
    const { sdk, client } = await this.clients.get();
    await client.send(
      new sdk.SendMessageCommand({
        QueueUrl: this.deadLetterUrl,
        MessageBody: body,
        MessageAttributes: Object.fromEntries(
          Object.entries(attributes).map(([key, value]) => [key, { DataType: 'String', StringValue: value }]),
        ),
      }),
    );
  }

  /**
   * Stops extending visibility, waits for the receives nobody waits for any more (no longer
   * than a long poll lasts) and hands back what they brought and what is still held, and
   * finishes pending deletes.
   */
  async close(): Promise<void> {
    this.keeper?.stop();
    const pollMs = (this.options.waitTimeSeconds + 5) * 1000;
    if (!(await settlesWithin(Promise.allSettled([...this.outstanding]), pollMs))) this.cutReceives.abort();
    await this.keeper?.quiesce();
    await this.deleter?.flush();
    await this.handBack(this.keeper?.receiptHandles() ?? []);
    this.clients.close();
  }

  /** Makes messages visible again at once, for another receive (or replica) to take. */
  private async handBack(receiptHandles: string[]): Promise<void> {
    if (receiptHandles.length === 0) return;
    const { sdk, client } = await this.clients.get();
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const group = receiptHandles.slice(i, i + 10);
      try {
        await client.send(
          new sdk.ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: group.map((handle, n) => ({ Id: String(n), ReceiptHandle: handle, VisibilityTimeout: 0 })),
          }),
        );
      } catch (err) {
        // They come back by themselves when their visibility timeout ends.
        this.logger.warn({ err, count: group.length }, 'could not hand messages back');
      }
    }
  }

  private async resolveQueues(): Promise<void> {
    const { queueName, accountId, deadLetterQueueName } = this.options;
    const { sdk, client } = await this.clients.get();
    this.queueUrl = await this.lookup(sdk, client, queueName, accountId);
    this.deadLetterUrl = await this.lookup(sdk, client, deadLetterQueueName, accountId);
    this.keeper = new VisibilityKeeper(client, this.queueUrl, this.options.visibilityTimeoutSeconds, this.logger);
    this.deleter = new DeleteBatcher(client, this.queueUrl);
  }

  private async lookup(sdk: SqsModule, client: SQSClient, queueName: string, accountId: string): Promise<string> {
    try {
      const out = await withReconnect(
        'SQS',
        { attempts: this.options.reconnectAttempts, delaySeconds: this.options.reconnectDelaySeconds },
        this.logger,
        isUnansweredAwsError,
        () =>
          client.send(
            new sdk.GetQueueUrlCommand({ QueueName: queueName, QueueOwnerAWSAccountId: accountId || undefined }),
          ),
      );
      return out.QueueUrl ?? '';
    } catch (err) {
      if (isNonExistentQueueError(err)) {
        throw new HeraldError(
          `SQS queue '${queueName}' does not exist in account ${accountId || '(default)'} (create it with \`herald infra up\`)`,
          { cause: err },
        );
      }
      const { name, message } = err as Error;
      throw new HeraldError(`cannot look up SQS queue '${queueName}': ${name}: ${message}`, {
        cause: err,
      });
    }
  }
}

const ABANDONED = Symbol('abandoned');

/** The request's answer, or ABANDONED as soon as `signal` aborts (the request goes on). */
function untilAborted<T>(request: Promise<T>, signal: AbortSignal): Promise<T | typeof ABANDONED> {
  return new Promise((resolve, reject) => {
    const abandon = () => resolve(ABANDONED);
    signal.addEventListener('abort', abandon, { once: true });
    request.then(resolve, reject).finally(() => signal.removeEventListener('abort', abandon));
  });
}

/** SQS: 10 attributes; the reason is kept to 4 KiB of the message's 256 KiB. */
const SQS_ATTRIBUTE_LIMITS = { maxAttributes: 10, maxReasonBytes: 4096, maxValueBytes: 4096 };
/** The most SQS takes for one message: body and attributes (names, types and values) together. */
const SQS_MAX_MESSAGE_BYTES = 262_144;
/** Set on a dead letter whose body had to be cut to fit: the original body's size in bytes. */
const BODY_TRUNCATED_FROM = 'herald.bodyTruncatedFrom';

/**
 * Keeps a dead letter within SQS's size limit, which a body near 256 KiB plus Herald's
 * attributes would exceed: first the copied original attributes are dropped (from `attributes`),
 * then, only if that is not enough, the body is cut and its original size recorded.
 * @returns the body to send.
 */
function fitWithinSqsLimit(body: string, attributes: Record<string, string>, copied: string[]): string {
  const attributeBytes = () =>
    Object.entries(attributes).reduce(
      (sum, [key, value]) => sum + Buffer.byteLength(key) + 'String'.length + Buffer.byteLength(value),
      0,
    );
  const bodyBytes = Buffer.byteLength(body);
  for (const key of copied) {
    if (bodyBytes + attributeBytes() <= SQS_MAX_MESSAGE_BYTES) return body;
    if (!key.startsWith('herald.')) delete attributes[key];
  }
  if (bodyBytes + attributeBytes() <= SQS_MAX_MESSAGE_BYTES) return body;
  attributes[BODY_TRUNCATED_FROM] = String(bodyBytes);
  return truncateUtf8(body, SQS_MAX_MESSAGE_BYTES - attributeBytes());
}

function flattenAttributes(attributes: Record<string, MessageAttributeValue> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes ?? {})) out[key] = value.StringValue ?? '';
  return out;
}
