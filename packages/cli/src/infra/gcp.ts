import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { ResolvedConfig } from '@herald/core/config';
import { loadPubSub } from '@herald/core/runtime';
import type { InfraStep } from './aws.js';

/**
 * Creates, idempotently, what `type: gcp` needs: the topic, the dead-letter topic with a
 * subscription that keeps what lands there, and the processor's subscription with its
 * dead-letter policy, retry policy (the backoff between redeliveries) and ack deadline.
 * Works against real Pub/Sub and the emulator (PUBSUB_EMULATOR_HOST).
 */
export async function gcpInfraUp(config: ResolvedConfig, report: (step: InfraStep) => void): Promise<void> {
  const { PubSub } = await loadPubSub();
  const pubsub = new PubSub({ projectId: config.gcp.projectId });
  const g = config.gcpTransport;
  try {
    const topic = await ensureTopic(pubsub, config.publisher.topicName, report);
    const deadLetters = await ensureTopic(pubsub, g.deadLetterTopicName, report);
    const deadLetterSubscription = `${g.deadLetterTopicName}-sub`;
    const [dlqSubExists] = await pubsub.subscription(deadLetterSubscription).exists();
    if (!dlqSubExists) await deadLetters.createSubscription(deadLetterSubscription);
    report({
      resource: 'subscription',
      name: `${deadLetterSubscription} (keeps dead letters)`,
      status: dlqSubExists ? 'found' : 'created',
    });

    const metadata = {
      ackDeadlineSeconds: g.ackDeadlineSeconds,
      deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: g.maxDeliveryAttempts },
      retryPolicy: {
        minimumBackoff: { seconds: g.minimumBackoffSeconds },
        maximumBackoff: { seconds: g.maximumBackoffSeconds },
      },
    };
    const subscription = pubsub.subscription(config.processor.queueName);
    const [exists] = await subscription.exists();
    if (exists) await subscription.setMetadata(metadata);
    else await topic.createSubscription(config.processor.queueName, metadata);
    report({
      resource: 'subscription',
      name: `${config.processor.queueName} (to ${g.deadLetterTopicName} after ${g.maxDeliveryAttempts} deliveries)`,
      status: exists ? 'found, policies set' : 'created',
    });
  } finally {
    await pubsub.close();
  }
}

async function ensureTopic(pubsub: PubSub, name: string, report: (step: InfraStep) => void): Promise<Topic> {
  const topic = pubsub.topic(name);
  const [exists] = await topic.exists();
  if (!exists) await topic.create();
  report({ resource: 'pubsub topic', name, status: exists ? 'found' : 'created' });
  return topic;
}
