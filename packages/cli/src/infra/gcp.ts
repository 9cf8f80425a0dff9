import type { PubSub, Subscription, SubscriptionMetadata, Topic } from '@google-cloud/pubsub';
import type { ResolvedConfig } from '@herald/core/config';
import { loadPubSub } from '@herald/core/runtime';
import { type InfraOptions, InfraReporter, type InfraStep } from './steps.js';

/** What Herald sets on its subscription: ack deadline, dead-letter and retry policies. */
interface WantedSubscription {
  ackDeadlineSeconds: number;
  deadLetterPolicy: { deadLetterTopic: string; maxDeliveryAttempts: number };
  retryPolicy: { minimumBackoff: { seconds: number }; maximumBackoff: { seconds: number } };
}

/** A protobuf Duration as the client library hands it over (seconds may be a string or a Long). */
interface Duration {
  seconds?: number | string | { toString(): string } | null;
  nanos?: number | null;
}

/**
 * Makes sure what `type: gcp` needs exists: the topic, the dead-letter topic with a
 * subscription that keeps what lands there, and the processor's subscription with its
 * dead-letter policy, retry policy (the backoff between redeliveries) and ack deadline.
 *
 * Creates only what is missing. An existing subscription is brought to the configured settings
 * field by field, and each field it changes is reported as a change (`changed: ackDeadlineSeconds
 * 10 → 60`); its other settings (filter, push config, ordering, …) are never touched. Running it
 * twice changes nothing the second time; with `dryRun` it only reads and reports what it would
 * create or change. Works against real Pub/Sub and the emulator (PUBSUB_EMULATOR_HOST).
 */
export async function gcpInfraUp(
  config: ResolvedConfig,
  report: (step: InfraStep) => void,
  options: InfraOptions = {},
): Promise<void> {
  const steps = new InfraReporter(report, options.dryRun ?? false);
  const { PubSub } = await loadPubSub();
  const pubsub = new PubSub({ projectId: config.gcp.projectId });
  const g = config.gcpTransport;
  try {
    const topic = await ensureTopic(pubsub, config.publisher.topicName, steps);
    const deadLetters = await ensureTopic(pubsub, g.deadLetterTopicName, steps);
    const deadLetterSubscription = `${g.deadLetterTopicName}-sub`;
    const keeperName = `${deadLetterSubscription} (keeps dead letters)`;
    const [dlqSubExists] = await pubsub.subscription(deadLetterSubscription).exists();
    if (dlqSubExists) {
      steps.kept('subscription', keeperName);
    } else {
      if (!steps.dryRun) await deadLetters.createSubscription(deadLetterSubscription);
      steps.created('subscription', keeperName);
    }

    const wanted = {
      ackDeadlineSeconds: g.ackDeadlineSeconds,
      // The topic's full name (projects/…/topics/…) is known without asking the server.
      deadLetterPolicy: { deadLetterTopic: deadLetters.name, maxDeliveryAttempts: g.maxDeliveryAttempts },
      retryPolicy: {
        minimumBackoff: { seconds: g.minimumBackoffSeconds },
        maximumBackoff: { seconds: g.maximumBackoffSeconds },
      },
    };
    const name = config.processor.queueName;
    await ensureProcessorSubscription(topic, name, pubsub.subscription(name), wanted, steps, g);
    // The subscription's dead-letter policy (for messages Herald never settled, such as a crash
    // loop) moves them as Pub/Sub's own service agent, which a project grants nothing by
    // default; infra up cannot grant it without the project's number, and the emulator checks
    // no permissions.
    steps.note(
      'note',
      'on Google Cloud, the Pub/Sub service agent',
      `service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com needs roles/pubsub.publisher on ${g.deadLetterTopicName} and roles/pubsub.subscriber on ${name} for the dead-letter policy to move messages never settled (docs/deploy.md, Google Cloud)`,
    );
  } finally {
    await pubsub.close();
  }
}

/** Creates the processor's subscription, or brings its ack deadline and policies to `wanted`. */
async function ensureProcessorSubscription(
  topic: Topic,
  name: string,
  subscription: Subscription,
  wanted: WantedSubscription,
  steps: InfraReporter,
  g: ResolvedConfig['gcpTransport'],
): Promise<void> {
  const described = `${name} (to ${g.deadLetterTopicName} after ${g.maxDeliveryAttempts} deliveries)`;
  const [exists] = await subscription.exists();
  if (!exists) {
    if (!steps.dryRun) await topic.createSubscription(name, wanted);
    steps.created('subscription', described);
    return;
  }

  const [current] = await subscription.getMetadata();
  if (current.topic && current.topic !== topic.name) {
    steps.note('warning', `${name} is attached to ${current.topic}`, `not ${topic.name}: Herald reads it as it is`);
  }
  if (current.pushConfig?.pushEndpoint) {
    steps.note('warning', `${name} is a push subscription`, 'Herald pulls: change it to pull before running Herald');
  }
  if (current.filter) {
    steps.note('note', `${name} has a filter`, 'only the events it lets through reach Herald');
  }
  const changes: { field: keyof typeof wanted; what: string }[] = [];
  if (current.ackDeadlineSeconds !== wanted.ackDeadlineSeconds) {
    changes.push({
      field: 'ackDeadlineSeconds',
      what: `ackDeadlineSeconds ${current.ackDeadlineSeconds ?? '(none)'} → ${wanted.ackDeadlineSeconds}`,
    });
  }
  const deadLetter = current.deadLetterPolicy;
  if (
    deadLetter?.deadLetterTopic !== wanted.deadLetterPolicy.deadLetterTopic ||
    deadLetter?.maxDeliveryAttempts !== wanted.deadLetterPolicy.maxDeliveryAttempts
  ) {
    changes.push({
      field: 'deadLetterPolicy',
      what: `deadLetterPolicy ${describeDeadLetter(deadLetter)} → ${describeDeadLetter(wanted.deadLetterPolicy)}`,
    });
  }
  const retry = current.retryPolicy;
  if (
    seconds(retry?.minimumBackoff) !== g.minimumBackoffSeconds ||
    seconds(retry?.maximumBackoff) !== g.maximumBackoffSeconds
  ) {
    changes.push({
      field: 'retryPolicy',
      what: `retryPolicy ${describeRetry(retry)} → ${describeRetry(wanted.retryPolicy)}`,
    });
  }
  if (changes.length === 0) {
    steps.kept('subscription', described);
    return;
  }
  if (!steps.dryRun) {
    // Only the fields named here are updated (the client sends them as the update mask).
    const update: SubscriptionMetadata = Object.fromEntries(changes.map((c) => [c.field, wanted[c.field]]));
    await subscription.setMetadata(update);
  }
  for (const change of changes) steps.changed('subscription', name, change.what);
}

async function ensureTopic(pubsub: PubSub, name: string, steps: InfraReporter): Promise<Topic> {
  const topic = pubsub.topic(name);
  const [exists] = await topic.exists();
  if (exists) {
    steps.kept('pubsub topic', name);
  } else {
    if (!steps.dryRun) await topic.create();
    steps.created('pubsub topic', name);
  }
  return topic;
}

/** A Duration in seconds; absent (unset) is undefined. */
function seconds(duration: Duration | null | undefined): number | undefined {
  if (!duration) return undefined;
  return Number(String(duration.seconds ?? 0)) + (duration.nanos ?? 0) / 1e9;
}

function describeDeadLetter(
  policy: { deadLetterTopic?: string | null; maxDeliveryAttempts?: number | null } | null | undefined,
): string {
  if (!policy?.deadLetterTopic) return '(none)';
  return `to ${policy.deadLetterTopic.split('/').at(-1)} after ${policy.maxDeliveryAttempts ?? '(default)'} deliveries`;
}

function describeRetry(
  policy: { minimumBackoff?: Duration | null; maximumBackoff?: Duration | null } | null | undefined,
): string {
  if (!policy) return '(none: redeliver at once)';
  return `backoff ${seconds(policy.minimumBackoff) ?? '(default)'}s..${seconds(policy.maximumBackoff) ?? '(default)'}s`;
}
