import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { loadPubSub } from '@herald/core/runtime';
import type { DeliveryRow, KeptMessage } from '@herald/store';
import { UsageError } from '../errors.js';
import { withStore } from './deliveries.js';
import { sqsQueueUrl } from './sqs-queue.js';

/** What `herald redeliver` did. */
export interface Redelivery {
  eventId: string;
  /** The deliveries made claimable again; the processor attempts these when the message returns. */
  reopened: DeliveryRow[];
  /** The queue's id for the message sent again; undefined when nothing was reopened. */
  messageId?: string;
}

/**
 * `herald redeliver EVENT_ID`: makes the event's deliveries that were not delivered (all of
 * them with `force`; one with `destination`) claimable again in the delivery log, then sends
 * the message the event arrived in through the processor's queue, so it is retried, logged
 * and dead-lettered like any other. Destinations still delivered stay skipped.
 * @throws UsageError when nothing can be sent (no store, the sandbox's in-process queue).
 */
export async function redeliver(
  config: ResolvedConfig,
  eventId: string,
  options: { destination?: string | undefined; force?: boolean | undefined },
): Promise<Redelivery> {
  if (config.type !== 'aws' && config.type !== 'gcp') {
    throw new UsageError(
      `herald redeliver: the ${config.type} queue lives inside \`herald run\`; publish the event again with herald run --publish`,
    );
  }
  return withStore(config, async (store) => {
    const message = await store.message(eventId);
    if (!message) {
      throw new HeraldError(
        `the delivery log holds no message for event ${eventId} (never received, or older than herald.store.retentionDays)`,
      );
    }
    const reopened = await store.reopen(eventId, options);
    if (reopened.length === 0) return { eventId, reopened };
    const messageId = config.type === 'aws' ? await sendToSqs(config, message) : await publishToPubSub(config, message);
    return { eventId, reopened, messageId };
  });
}

/** Straight to the processor's queue, not through the topic: no other subscriber hears it again. */
async function sendToSqs(config: ResolvedConfig, message: KeptMessage): Promise<string> {
  const sqs = new SQSClient({ region: config.aws.region, endpoint: config.awsTransport.endpoint });
  try {
    const queueUrl = await sqsQueueUrl(sqs, config, config.processor.queueName);
    const attributes = Object.entries(message.attributes);
    const out = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: typeof message.body === 'string' ? message.body : Buffer.from(message.body).toString('utf8'),
        ...(attributes.length > 0
          ? {
              MessageAttributes: Object.fromEntries(
                attributes.map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
              ),
            }
          : {}),
      }),
    );
    return out.MessageId ?? '';
  } finally {
    sqs.destroy();
  }
}

/**
 * To the topic: Pub/Sub cannot publish to one subscription. Other subscriptions of the topic
 * receive it again too.
 */
async function publishToPubSub(config: ResolvedConfig, message: KeptMessage): Promise<string> {
  const { PubSub } = await loadPubSub();
  const pubsub = new PubSub({ projectId: config.gcp.projectId });
  try {
    const data = typeof message.body === 'string' ? Buffer.from(message.body, 'utf8') : Buffer.from(message.body);
    return await pubsub.topic(config.publisher.topicName).publishMessage({ data, attributes: message.attributes });
  } finally {
    await pubsub.close().catch(() => {});
  }
}

/** One line per reopened delivery, then where the message went. */
export function formatRedelivery(result: Redelivery): string {
  if (result.reopened.length === 0) {
    return `nothing to redeliver for event ${result.eventId}: every destination was delivered (--force sends them again)\n`;
  }
  const lines = result.reopened.map((row) => {
    const tried = `${row.attempts} attempt${row.attempts === 1 ? '' : 's'} so far`;
    return `reopened  ${row.label}  (${tried}${row.lastError ? `; last: ${row.lastError}` : ''})`;
  });
  lines.push(`sent again through the queue: message ${result.messageId}`);
  return `${lines.join('\n')}\n`;
}
