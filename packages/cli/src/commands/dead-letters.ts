import { readFile } from 'node:fs/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { PubSub, v1 } from '@google-cloud/pubsub';
import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { loadPubSub } from '@herald/core/runtime';
import { DEAD_LETTER_ATTRIBUTES } from '@herald/processor';
import type { DeliveryStore } from '@herald/store';
import { UsageError } from '../errors.js';
import { withStore } from './deliveries.js';
import { sqsQueueUrl } from './sqs-queue.js';

/**
 * One dead-lettered message as `herald dead-letters list` shows it: what Herald recorded
 * (`herald.*` attributes: kind, reason, event, destination, source message) and what a redrive
 * would send back (the body and the original attributes). Fields Herald did not record (a
 * message the queue service moved there itself after too many receives) are null.
 */
export interface DeadLetterView {
  /** The dead-letter queue's id for the copy (SQS MessageId, Pub/Sub message id, or the sandbox's). */
  id: string;
  /** When the copy reached the dead-letter queue (SQS SentTimestamp, Pub/Sub publish time). */
  sentAt: string | null;
  /**
   * SQS: ApproximateReceiveCount as this read left it (reads of the dead-letter queue count
   * too); Pub/Sub: the delivery count the service recorded when it dead-lettered the message.
   */
  receiveCount: number | null;
  kind: string | null;
  reason: string | null;
  eventId: string | null;
  /** The destination key that was given up on, when only one of the message's was. */
  destination: string | null;
  /** The processor queue's id for the original message. */
  sourceMessageId: string | null;
  /** The original message's attributes: what a redrive sends with the body. */
  attributes: Record<string, string>;
  bodyBytes: number;
  /** The original body: text, or base64 for bytes that are not UTF-8 (FlyteAdmin's protobuf on Pub/Sub). */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  /** Why a redrive would leave it where it is (a body cut to fit the dead-letter queue), if it would. */
  notRedrivable: string | null;
}

/** A dead letter taken from its queue and held (invisible to other readers) until removed or released. */
interface Held {
  view: DeadLetterView;
  /** The original body as bytes, for the send back. */
  data: Buffer;
  handle: string;
}

/** The dead-letter queue of one config, behind what list and redrive need of it. */
interface DeadLetterQueue {
  /** `sqs queue herald-dlq`, for messages. */
  readonly where: string;
  /** Up to `max` dead letters, each held for `holdSeconds`; none when the queue has no more to hand out. */
  take(max: number, holdSeconds: number): Promise<Held[]>;
  /** How many the queue holds, roughly, if the service says. */
  approximateCount(): Promise<number | undefined>;
  /** Sends the original body and attributes to the processor's queue; the new message's id. */
  requeue(held: Held): Promise<string>;
  /** Deletes the dead letter (after its copy is back on the processor's queue). */
  remove(held: Held): Promise<void>;
  /** Makes held dead letters visible again at once. */
  release(held: readonly Held[]): Promise<void>;
  close(): Promise<void>;
}

/** How long list holds what it read; they are released as soon as it is done. */
const LIST_HOLD_SECONDS = 30;
/** How long redrive holds what it took; what it leaves is released at the end. */
const REDRIVE_HOLD_SECONDS = 120;
const PREVIEW_CHARS = 80;

/** `herald dead-letters list`: up to `limit` dead letters, left in place. */
export async function listDeadLetters(
  config: ResolvedConfig,
  limit: number,
): Promise<{ where: string; approximate: number | undefined; deadLetters: DeadLetterView[] }> {
  if (config.type === 'sandbox') {
    const all = await readSandboxDeadLetters(config.sandbox.deadLetterFile);
    return { where: config.sandbox.deadLetterFile, approximate: all.length, deadLetters: all.slice(-limit).reverse() };
  }
  const queue = await openDeadLetterQueue(config);
  const held: Held[] = [];
  try {
    const seen = new Set<string>();
    while (seen.size < limit) {
      const batch = await queue.take(limit - seen.size, LIST_HOLD_SECONDS);
      held.push(...batch);
      const fresh = batch.filter((h) => !seen.has(h.view.id));
      if (fresh.length === 0) break;
      for (const h of fresh) seen.add(h.view.id);
    }
    const approximate = await queue.approximateCount();
    const byId = new Map(held.map((h) => [h.view.id, h.view]));
    const deadLetters = [...byId.values()]
      .slice(0, limit)
      .sort((a, b) => (b.sentAt ?? '').localeCompare(a.sentAt ?? ''));
    return { where: queue.where, approximate, deadLetters };
  } finally {
    await queue.release(held).finally(() => queue.close());
  }
}

/** What one dead letter became in a redrive. */
export interface RedriveLine {
  id: string;
  outcome: 'redriven' | 'would redrive' | 'skipped' | 'failed';
  eventId: string | null;
  kind: string | null;
  destination: string | null;
  /** The new message's id on the processor's queue. */
  messageId?: string;
  /** Deliveries of the event made claimable again in the delivery log (their keys). */
  reopened?: string[];
  note?: string;
}

export interface RedriveOptions {
  since?: Date | undefined;
  limit?: number | undefined;
  dryRun: boolean;
  /** Go ahead without a delivery log (see the refusal in {@link redriveDeadLetters}). */
  withoutStore: boolean;
}

/**
 * `herald dead-letters redrive`: moves dead letters back to the processor's queue, oldest
 * first as the queue hands them out, calling `report` for each as it goes.
 *
 * For each one: the deliveries it gave up on are reopened in the delivery log (so the
 * processor attempts them again, while those already delivered stay skipped), then the
 * original body and attributes are sent to the processor's queue, and only after that send
 * succeeded is the dead letter deleted (SQS) or acked (Pub/Sub). A crash in between leaves a
 * copy in both places, which the log's claims deliver once. A dead letter whose body was cut
 * to fit the dead-letter queue is left in place (sending it would deliver a different
 * message). One that arrived after the redrive started is left for the next one, so a message
 * that fails again is not sent round in a loop.
 */
export async function redriveDeadLetters(
  config: ResolvedConfig,
  options: RedriveOptions,
  report: (line: RedriveLine) => void,
): Promise<{ counts: Record<RedriveLine['outcome'], number>; olderThanSince: number; where: string }> {
  if (config.type === 'sandbox') {
    throw new UsageError(
      `the sandbox's queue lives inside \`herald run\`: its dead letters (${config.sandbox.deadLetterFile}) are listed, not redriven; publish the events again with \`herald run --publish\``,
    );
  }
  if (!config.store && !options.withoutStore && !options.dryRun) {
    throw new UsageError(
      `${config.source} keeps no delivery log (herald.store): a running processor would skip the destinations it dead-lettered, and a restarted one would send again to those already delivered. Set herald.store.url, or pass --without-store to redrive anyway`,
    );
  }
  const run = async (store: DeliveryStore | undefined) => {
    const queue = await openDeadLetterQueue(config);
    const started = new Date();
    const counts = { redriven: 0, 'would redrive': 0, skipped: 0, failed: 0 };
    let olderThanSince = 0;
    const kept: Held[] = [];
    const seen = new Set<string>();
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    try {
      outer: while (counts.redriven + counts['would redrive'] < limit) {
        const batch = await queue.take(10, REDRIVE_HOLD_SECONDS);
        const fresh = batch.filter((h) => !seen.has(h.view.id));
        kept.push(...batch.filter((h) => seen.has(h.view.id)));
        if (fresh.length === 0) break;
        for (const [index, held] of fresh.entries()) {
          const { view } = held;
          seen.add(view.id);
          if (counts.redriven + counts['would redrive'] >= limit) {
            kept.push(...fresh.slice(index));
            break outer;
          }
          const line: RedriveLine = {
            id: view.id,
            outcome: 'redriven',
            eventId: view.eventId,
            kind: view.kind,
            destination: view.destination,
          };
          const sentAt = view.sentAt ? new Date(view.sentAt) : undefined;
          if (options.since && sentAt && sentAt < options.since) {
            olderThanSince++;
            kept.push(held);
            continue;
          }
          if (sentAt && sentAt >= started) {
            kept.push(held);
            report({ ...line, outcome: 'skipped', note: 'dead-lettered during this redrive; left for the next one' });
            counts.skipped++;
            continue;
          }
          if (view.notRedrivable) {
            kept.push(held);
            report({ ...line, outcome: 'skipped', note: view.notRedrivable });
            counts.skipped++;
            continue;
          }
          if (options.dryRun) {
            kept.push(held);
            report({ ...line, outcome: 'would redrive' });
            counts['would redrive']++;
            continue;
          }
          try {
            if (store && view.eventId) {
              const reopened = await store.reopen(
                view.eventId,
                view.destination ? { destination: view.destination } : {},
              );
              line.reopened = reopened.map((r) => r.destination);
            }
            line.messageId = await queue.requeue(held);
          } catch (err) {
            kept.push(held);
            report({ ...line, outcome: 'failed', note: messageOf(err) });
            counts.failed++;
            // The processor's queue (or the log) is not taking anything: stop here, keep the rest.
            kept.push(...fresh.slice(index + 1));
            break outer;
          }
          try {
            await queue.remove(held);
          } catch (err) {
            // Sent, not deleted: a copy is in both places, and the log's claims deliver it once.
            line.note = `sent, but the dead letter could not be removed (${messageOf(err)}); a later redrive sends it again and the processor skips what was delivered`;
          }
          report(line);
          counts.redriven++;
        }
      }
      return { counts, olderThanSince, where: queue.where };
    } finally {
      await queue.release(kept).finally(() => queue.close());
    }
  };
  return config.store && !options.dryRun ? withStore(config, run) : run(undefined);
}

/** `herald dead-letters list` as text: one block per dead letter. */
export function formatDeadLetters(listed: {
  where: string;
  approximate: number | undefined;
  deadLetters: readonly DeadLetterView[];
}): string {
  const { where, approximate, deadLetters } = listed;
  if (deadLetters.length === 0) return `no dead letters in ${where}\n`;
  const lines: string[] = [];
  for (const d of deadLetters) {
    lines.push(
      [
        d.sentAt ?? '(time unknown)',
        (d.kind ?? '(moved by the queue)').padEnd(18),
        d.receiveCount === null ? '' : `×${d.receiveCount}`,
        `event ${d.eventId ?? '-'}`,
        d.destination ?? '',
        `${d.bodyBytes} B`,
        `id ${d.id}`,
      ]
        .filter((part) => part !== '')
        .join('  '),
    );
    if (d.reason) lines.push(`  reason: ${d.reason}`);
    lines.push(`  body: ${preview(d)}`);
    if (d.notRedrivable) lines.push(`  not redrivable: ${d.notRedrivable}`);
  }
  const about = approximate === undefined ? '' : ` (about ${approximate} in all)`;
  lines.push('', `${deadLetters.length} shown from ${where}${about}; nothing was removed`);
  return `${lines.join('\n')}\n`;
}

/** One line of `herald dead-letters redrive`. */
export function formatRedriveLine(line: RedriveLine): string {
  const parts = [line.outcome.padEnd(13), line.id];
  if (line.messageId) parts.push(`→ ${line.messageId}`);
  parts.push(`event ${line.eventId ?? '-'}`);
  if (line.kind) parts.push(line.kind);
  if (line.destination) parts.push(line.destination);
  if (line.reopened?.length) parts.push(`(reopened: ${line.reopened.join(', ')})`);
  if (line.note) parts.push(`(${line.note})`);
  return `${parts.join('  ')}\n`;
}

/** The last line of a redrive: `2 redriven, 1 skipped, 0 failed; 3 older than --since left in place`. */
export function formatRedriveSummary(
  result: { counts: Record<RedriveLine['outcome'], number>; olderThanSince: number; where: string },
  dryRun: boolean,
): string {
  const { counts, olderThanSince, where } = result;
  const moved = dryRun ? `dry run: would redrive ${counts['would redrive']}` : `${counts.redriven} redriven`;
  const since = olderThanSince > 0 ? `; ${olderThanSince} older than --since left in place` : '';
  const nothing = dryRun ? '; nothing was moved' : '';
  return `${moved}, ${counts.skipped} skipped, ${counts.failed} failed (from ${where})${since}${nothing}\n`;
}

function preview(d: DeadLetterView): string {
  if (d.bodyEncoding === 'base64') return `(${d.bodyBytes} bytes, not text)`;
  const flat = d.body.replace(/\s+/g, ' ');
  return flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS)}…` : flat;
}

/** Set by the SQS source on a dead letter whose body had to be cut to fit. */
const BODY_TRUNCATED_FROM = 'herald.bodyTruncatedFrom';
/** Attributes Pub/Sub adds to a message it dead-letters itself (delivery count, source subscription, …). */
const PUBSUB_DEAD_LETTER_PREFIX = 'CloudPubSubDeadLetter';

/** Whether an attribute is Herald's or the transport's record of the dead-lettering, not the original message's. */
function isDeadLetterAttribute(name: string): boolean {
  return name.startsWith('herald.') || name.startsWith(PUBSUB_DEAD_LETTER_PREFIX) || name.startsWith('googclient_');
}

function viewOf(
  id: string,
  data: Buffer,
  attributes: Record<string, string>,
  sentAt: Date | undefined,
  receiveCount: number | null,
): DeadLetterView {
  const text = utf8(data);
  const truncated = attributes[BODY_TRUNCATED_FROM];
  return {
    id,
    sentAt: sentAt && !Number.isNaN(sentAt.getTime()) ? sentAt.toISOString() : null,
    receiveCount,
    kind: attributes[DEAD_LETTER_ATTRIBUTES.kind] ?? null,
    reason: attributes[DEAD_LETTER_ATTRIBUTES.reason] ?? null,
    eventId: attributes[DEAD_LETTER_ATTRIBUTES.eventId] ?? null,
    destination: attributes[DEAD_LETTER_ATTRIBUTES.destination] ?? null,
    sourceMessageId: attributes[DEAD_LETTER_ATTRIBUTES.sourceMessageId] ?? null,
    attributes: Object.fromEntries(Object.entries(attributes).filter(([name]) => !isDeadLetterAttribute(name))),
    bodyBytes: data.byteLength,
    body: text ?? data.toString('base64'),
    bodyEncoding: text === undefined ? 'base64' : 'utf8',
    notRedrivable: truncated
      ? `its body was cut from ${truncated} bytes to fit the dead-letter queue; the original is not there to send`
      : null,
  };
}

function utf8(data: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
}

async function openDeadLetterQueue(config: ResolvedConfig): Promise<DeadLetterQueue> {
  if (config.type === 'aws') return SqsDeadLetters.open(config);
  if (config.type === 'gcp') return PubSubDeadLetters.open(config);
  throw new UsageError(`herald dead-letters: a type ${config.type} config has no dead-letter queue`);
}

/** The sandbox's dead-letter file, oldest first; none when it does not exist yet. */
async function readSandboxDeadLetters(file: string): Promise<DeadLetterView[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, index) => {
      const entry = JSON.parse(line) as {
        kind?: string;
        reason?: string;
        eventId?: string;
        destination?: string;
        messageId?: string;
        time?: string;
        body?: string;
      };
      const body = entry.body ?? '';
      return {
        id: `${file}:${index + 1}`,
        sentAt: entry.time ?? null,
        receiveCount: null,
        kind: entry.kind ?? null,
        reason: entry.reason ?? null,
        eventId: entry.eventId ?? null,
        destination: entry.destination ?? null,
        sourceMessageId: entry.messageId ?? null,
        attributes: {},
        bodyBytes: Buffer.byteLength(body),
        body,
        bodyEncoding: 'utf8' as const,
        notRedrivable: 'the sandbox queue lives inside `herald run`',
      };
    });
}

/** The SQS dead-letter queue (`herald.aws.deadLetterQueueName`) and the processor's queue. */
class SqsDeadLetters implements DeadLetterQueue {
  private constructor(
    private readonly sqs: SQSClient,
    readonly where: string,
    private readonly deadLetterUrl: string,
    private readonly queueUrl: string,
  ) {}

  /** The original message attributes with their data types, by dead letter. */
  private readonly raw = new WeakMap<Held, Record<string, MessageAttributeValue>>();

  static async open(config: ResolvedConfig): Promise<SqsDeadLetters> {
    const sqs = new SQSClient({ region: config.aws.region, endpoint: config.awsTransport.endpoint });
    try {
      const name = config.awsTransport.deadLetterQueueName;
      const deadLetterUrl = await sqsQueueUrl(sqs, config, name);
      const queueUrl = await sqsQueueUrl(sqs, config, config.processor.queueName);
      return new SqsDeadLetters(sqs, `sqs queue ${name}`, deadLetterUrl, queueUrl);
    } catch (err) {
      sqs.destroy();
      throw err;
    }
  }

  async take(max: number, holdSeconds: number): Promise<Held[]> {
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.deadLetterUrl,
        MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
        // A long poll asks every SQS server, so an empty answer means the queue has no more.
        WaitTimeSeconds: 1,
        VisibilityTimeout: holdSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
        MessageAttributeNames: ['All'],
      }),
    );
    return (out.Messages ?? []).map((m) => this.held(m));
  }

  private held(m: Message): Held {
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(m.MessageAttributes ?? {})) {
      attributes[name] =
        value.StringValue ?? (value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : '');
    }
    const data = Buffer.from(m.Body ?? '', 'utf8');
    const sent = m.Attributes?.SentTimestamp;
    const count = m.Attributes?.ApproximateReceiveCount;
    const held: Held = {
      view: viewOf(
        m.MessageId ?? '',
        data,
        attributes,
        sent ? new Date(Number(sent)) : undefined,
        count ? Number(count) : null,
      ),
      data,
      handle: m.ReceiptHandle ?? '',
    };
    const originals = Object.entries(m.MessageAttributes ?? {}).filter(([name]) => !isDeadLetterAttribute(name));
    this.raw.set(held, Object.fromEntries(originals));
    return held;
  }

  async approximateCount(): Promise<number | undefined> {
    const out = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.deadLetterUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const a = out.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
  }

  async requeue(held: Held): Promise<string> {
    const attributes = this.raw.get(held) ?? {};
    const out = await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: held.data.toString('utf8'),
        ...(Object.keys(attributes).length > 0 ? { MessageAttributes: attributes } : {}),
      }),
    );
    return out.MessageId ?? '';
  }

  async remove(held: Held): Promise<void> {
    await this.sqs.send(new DeleteMessageCommand({ QueueUrl: this.deadLetterUrl, ReceiptHandle: held.handle }));
  }

  async release(held: readonly Held[]): Promise<void> {
    for (let i = 0; i < held.length; i += 10) {
      const group = held.slice(i, i + 10);
      try {
        await this.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.deadLetterUrl,
            Entries: group.map((h, n) => ({ Id: String(n), ReceiptHandle: h.handle, VisibilityTimeout: 0 })),
          }),
        );
      } catch {
        // They become visible again by themselves when the hold ends.
      }
    }
  }

  async close(): Promise<void> {
    this.sqs.destroy();
  }
}

/** What a synchronous pull answers for one message (the fields read here). */
interface PubSubMessage {
  ackId?: string | null;
  message?: {
    data?: Uint8Array | string | null;
    attributes?: Record<string, string> | null;
    messageId?: string | null;
    publishTime?: { seconds?: number | string | { toString(): string } | null; nanos?: number | null } | null;
  } | null;
}

/**
 * The Pub/Sub dead-letter topic's subscription (`<herald.gcp.deadLetterTopicName>-sub`, made by
 * `herald infra up`), read with synchronous pull, and the processor's topic.
 */
class PubSubDeadLetters implements DeadLetterQueue {
  private constructor(
    private readonly pubsub: PubSub,
    private readonly subscriber: v1.SubscriberClient,
    private readonly subscription: string,
    private readonly topicName: string,
    readonly where: string,
  ) {}

  static async open(config: ResolvedConfig): Promise<PubSubDeadLetters> {
    const { PubSub, v1 } = await loadPubSub();
    const pubsub = new PubSub({ projectId: config.gcp.projectId });
    const name = `${config.gcpTransport.deadLetterTopicName}-sub`;
    try {
      const subscription = pubsub.subscription(name);
      const [exists] = await subscription.exists();
      if (!exists) {
        throw new HeraldError(
          `Pub/Sub subscription '${name}' does not exist in project ${config.gcp.projectId} (create it with \`herald infra up\`)`,
        );
      }
      const subscriber = new v1.SubscriberClient(
        (await pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0],
      );
      return new PubSubDeadLetters(
        pubsub,
        subscriber,
        subscription.name,
        config.publisher.topicName,
        `pubsub subscription ${name}`,
      );
    } catch (err) {
      await pubsub.close().catch(() => {});
      throw err;
    }
  }

  async take(max: number, holdSeconds: number): Promise<Held[]> {
    const [answer] = await this.subscriber.pull({
      subscription: this.subscription,
      maxMessages: Math.max(1, Math.min(100, max)),
      // Answer at once when nothing is there, rather than holding the request open.
      returnImmediately: true,
    });
    const received: PubSubMessage[] = answer.receivedMessages ?? [];
    const held = received.map((r) => this.held(r));
    if (held.length > 0) {
      await this.subscriber.modifyAckDeadline({
        subscription: this.subscription,
        ackIds: held.map((h) => h.handle),
        ackDeadlineSeconds: holdSeconds,
      });
    }
    return held;
  }

  private held(received: PubSubMessage): Held {
    const message = received.message ?? {};
    const raw = message.data ?? new Uint8Array();
    const data = typeof raw === 'string' ? Buffer.from(raw, 'base64') : Buffer.from(raw);
    const attributes = { ...(message.attributes ?? {}) };
    const published = message.publishTime;
    const sentAt = published
      ? new Date(Number(String(published.seconds ?? 0)) * 1000 + Math.floor((published.nanos ?? 0) / 1e6))
      : undefined;
    const count = attributes[`${PUBSUB_DEAD_LETTER_PREFIX}SourceDeliveryCount`];
    return {
      view: viewOf(message.messageId ?? '', data, attributes, sentAt, count ? Number(count) : null),
      data,
      handle: received.ackId ?? '',
    };
  }

  async approximateCount(): Promise<number | undefined> {
    return undefined;
  }

  async requeue(held: Held): Promise<string> {
    return this.pubsub.topic(this.topicName).publishMessage({ data: held.data, attributes: held.view.attributes });
  }

  async remove(held: Held): Promise<void> {
    await this.subscriber.acknowledge({ subscription: this.subscription, ackIds: [held.handle] });
  }

  async release(held: readonly Held[]): Promise<void> {
    if (held.length === 0) return;
    try {
      await this.subscriber.modifyAckDeadline({
        subscription: this.subscription,
        ackIds: held.map((h) => h.handle),
        ackDeadlineSeconds: 0,
      });
    } catch {
      // They are redelivered by themselves when the hold ends.
    }
  }

  async close(): Promise<void> {
    await this.subscriber.close().catch(() => {});
    await this.pubsub.close().catch(() => {});
  }
}
