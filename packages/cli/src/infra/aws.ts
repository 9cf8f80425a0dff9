import {
  GetIdentityVerificationAttributesCommand,
  ListIdentitiesCommand,
  SESClient,
  VerifyEmailIdentityCommand,
} from '@aws-sdk/client-ses';
import { CreateEmailIdentityCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  CreateTopicCommand,
  GetSubscriptionAttributesCommand,
  GetTopicAttributesCommand,
  ListSubscriptionsByTopicCommand,
  ListTopicsCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { isNonExistentQueueError } from '@herald/core/runtime';
import { isApiMissing } from '@herald/emailer';
import { heraldStatement, mergeQueuePolicy } from './queue-policy.js';
import { type InfraOptions, InfraReporter, type InfraStep } from './steps.js';

/**
 * Makes sure what `type: aws` needs exists: the SNS topic, the dead-letter queue, the queue with
 * its visibility timeout and redrive policy, a queue policy letting the topic send to it, the
 * topic → queue subscription and the SES sender identity.
 *
 * Safe on an existing deployment (FlyteAdmin's own topic, queue and subscription): it creates
 * only what is missing and reports every change to what exists, one step each.
 * - A subscription it creates gets raw message delivery; an existing one is never modified
 *   (Herald reads the SNS envelope as well as the raw event).
 * - The queue policy is merged: every existing statement stays, and Herald's statement (Sid
 *   `herald-sns-to-sqs`) is added only when no statement already lets the topic send.
 * - An existing queue's `VisibilityTimeout` and `RedrivePolicy` are set to the configured ones
 *   when they differ, each reported as a change (`changed: VisibilityTimeout 30 → 60`).
 *
 * Running it twice changes nothing the second time. With `dryRun` it only reads and reports
 * what it would create or change.
 */
export async function awsInfraUp(
  config: ResolvedConfig,
  report: (step: InfraStep) => void,
  options: InfraOptions = {},
): Promise<void> {
  const steps = new InfraReporter(report, options.dryRun ?? false);
  const region = config.aws.region;
  const clientConfig = { region, endpoint: config.awsTransport.endpoint };
  const sns = new SNSClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  // What a dry run shows for a resource that does not exist yet (a real run uses AWS's answer).
  const predictedArn = (service: 'sns' | 'sqs', name: string) =>
    `arn:aws:${service}:${region}:${config.processor.accountId}:${name}`;
  try {
    const configuredTopic = config.publisher.topicName;
    const topicName = topicNameOf(configuredTopic);
    let topicArn = await findTopic(sns, configuredTopic, topicName);
    const topicExisted = topicArn !== undefined;
    if (topicArn !== undefined) {
      steps.kept('sns topic', topicArn);
    } else {
      const predicted = configuredTopic.startsWith('arn:') ? configuredTopic : predictedArn('sns', topicName);
      topicArn = steps.dryRun
        ? predicted
        : ((await sns.send(new CreateTopicCommand({ Name: topicName }))).TopicArn ?? '');
      steps.created('sns topic', topicArn);
    }
    if (topicArn !== configuredTopic) {
      steps.note(
        'warning',
        `the topic's ARN is ${topicArn}`,
        `but notifications.publisher.topicName says ${configuredTopic}`,
      );
    }

    const dlqName = config.awsTransport.deadLetterQueueName;
    let dlq = await findQueue(sqs, dlqName, ['QueueArn']);
    if (dlq) {
      steps.kept('sqs queue', dlqName);
    } else {
      dlq = steps.dryRun
        ? { url: '', attributes: { QueueArn: predictedArn('sqs', dlqName) } }
        : await createQueue(sqs, dlqName, {});
      steps.created('sqs queue', dlqName);
    }
    const dlqArn = dlq.attributes.QueueArn ?? '';

    // The queue: created with Herald's settings, or brought to them attribute by attribute.
    const queueName = config.processor.queueName;
    const wanted = {
      VisibilityTimeout: String(config.awsTransport.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlqArn,
        maxReceiveCount: config.awsTransport.maxReceiveCount,
      }),
    };
    let queue = await findQueue(sqs, queueName, ['QueueArn', 'VisibilityTimeout', 'RedrivePolicy', 'Policy']);
    const queueExisted = queue !== undefined;
    if (queue) {
      const changes: { attribute: string; value: string; what: string }[] = [];
      const timeout = queue.attributes.VisibilityTimeout;
      if (timeout !== wanted.VisibilityTimeout) {
        changes.push({
          attribute: 'VisibilityTimeout',
          value: wanted.VisibilityTimeout,
          what: `VisibilityTimeout ${timeout ?? '(none)'} → ${wanted.VisibilityTimeout}`,
        });
      }
      const redrive = queue.attributes.RedrivePolicy;
      if (!sameRedrive(redrive, dlqArn, config.awsTransport.maxReceiveCount)) {
        changes.push({
          attribute: 'RedrivePolicy',
          value: wanted.RedrivePolicy,
          what: `RedrivePolicy ${describeRedrive(redrive)} → ${describeRedrive(wanted.RedrivePolicy)}`,
        });
      }
      if (changes.length > 0 && !steps.dryRun) {
        const attributes = Object.fromEntries(changes.map((c) => [c.attribute, c.value]));
        await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: attributes }));
      }
      for (const change of changes) steps.changed('sqs queue', queueName, change.what);
      if (changes.length === 0) {
        steps.kept('sqs queue', `${queueName} (to ${dlqName} after ${config.awsTransport.maxReceiveCount} receives)`);
      }
    } else {
      queue = steps.dryRun
        ? { url: '', attributes: { QueueArn: predictedArn('sqs', queueName) } }
        : await createQueue(sqs, queueName, wanted);
      steps.created('sqs queue', `${queueName} (to ${dlqName} after ${config.awsTransport.maxReceiveCount} receives)`);
    }
    const queueArn = queue.attributes.QueueArn ?? '';

    const policyName = `${topicName} may send to ${queueName}`;
    if (queueExisted) {
      const merge = mergeQueuePolicy(queue.attributes.Policy, queueArn, topicArn);
      if (merge.kind === 'unchanged') {
        steps.kept('queue policy', policyName, `found (unchanged): statement ${merge.allowedBy} allows it`);
      } else {
        if (!steps.dryRun) {
          await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: merge.policy } }));
        }
        steps.changed('queue policy', policyName, merge.change);
      }
    } else {
      if (!steps.dryRun) {
        const policy = JSON.stringify({ Version: '2012-10-17', Statement: [heraldStatement(queueArn, topicArn)] });
        await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: policy } }));
      }
      steps.created('queue policy', policyName);
    }

    // Only a subscription Herald creates gets raw delivery: FlyteAdmin's processor expects the
    // envelope on its own subscription, and Herald reads either.
    const subscriptionName = `${topicName} -> ${queueName}`;
    const existing = topicExisted && queueExisted ? await findSubscription(sns, topicArn, queueArn) : undefined;
    if (existing) {
      const attributes =
        (await sns.send(new GetSubscriptionAttributesCommand({ SubscriptionArn: existing }))).Attributes ?? {};
      const delivery =
        attributes.RawMessageDelivery === 'true'
          ? 'found (unchanged): raw delivery'
          : 'kept as is: envelope delivery, which Herald reads';
      steps.kept('subscription', subscriptionName, delivery);
      if (attributes.FilterPolicy) {
        steps.note('note', `${subscriptionName} has a filter policy`, 'only the events it lets through reach Herald');
      }
      if (attributes.PendingConfirmation === 'true') {
        steps.note(
          'warning',
          `${subscriptionName} is pending confirmation`,
          'nothing reaches the queue until it is confirmed',
        );
      }
    } else {
      if (!steps.dryRun) {
        await sns.send(
          new SubscribeCommand({
            TopicArn: topicArn,
            Protocol: 'sqs',
            Endpoint: queueArn,
            Attributes: { RawMessageDelivery: 'true' },
            ReturnSubscriptionArn: true,
          }),
        );
      }
      steps.created('subscription', subscriptionName, 'raw delivery');
    }

    if (config.emailer.provider === 'ses') await ensureIdentity(config, steps);
  } finally {
    sns.destroy();
    sqs.destroy();
  }
}

/** `arn:aws:sns:us-east-1:123:name` → `name`; a bare name is returned as it is. */
export function topicNameOf(topic: string): string {
  const name = topic.startsWith('arn:') ? topic.split(':').at(-1) : topic;
  if (!name || !/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
    throw new HeraldError(`notifications.publisher.topicName: '${topic}' is not an SNS topic ARN or name`);
  }
  return name;
}

/**
 * The ARN of the topic if it exists: the configured ARN when SNS knows it, otherwise a topic of
 * that name in the client's account and region (where CreateTopic would make it).
 */
async function findTopic(sns: SNSClient, configured: string, name: string): Promise<string | undefined> {
  if (configured.startsWith('arn:')) {
    try {
      await sns.send(new GetTopicAttributesCommand({ TopicArn: configured }));
      return configured;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  let token: string | undefined;
  do {
    const page = await sns.send(new ListTopicsCommand({ NextToken: token }));
    const found = page.Topics?.find((t) => t.TopicArn?.split(':').at(-1) === name);
    if (found?.TopicArn) return found.TopicArn;
    token = page.NextToken;
  } while (token);
  return undefined;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'NotFoundException' || name === 'NotFound';
}

interface FoundQueue {
  url: string;
  attributes: Partial<Record<QueueAttributeName, string>>;
}

async function findQueue(
  sqs: SQSClient,
  name: string,
  attributeNames: QueueAttributeName[],
): Promise<FoundQueue | undefined> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (err) {
    if (isNonExistentQueueError(err)) return undefined;
    throw err;
  }
  if (url === undefined) return undefined;
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: attributeNames }));
  return { url, attributes: out.Attributes ?? {} };
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<FoundQueue> {
  const url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl ?? '';
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, attributes: out.Attributes ?? {} };
}

function parseRedrive(policy: string | undefined): { target: string; maxReceiveCount: number } | undefined {
  if (!policy) return undefined;
  try {
    const value = JSON.parse(policy) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    // SQS answers maxReceiveCount as a number or a string, depending on how it was set.
    return { target: String(value.deadLetterTargetArn ?? ''), maxReceiveCount: Number(value.maxReceiveCount) };
  } catch {
    return undefined;
  }
}

function sameRedrive(current: string | undefined, target: string, maxReceiveCount: number): boolean {
  const redrive = parseRedrive(current);
  return redrive?.target === target && redrive.maxReceiveCount === maxReceiveCount;
}

/** `to herald-dlq after 5 receives`, or `(none)`. */
function describeRedrive(policy: string | undefined): string {
  if (!policy) return '(none)';
  const redrive = parseRedrive(policy);
  if (!redrive) return JSON.stringify(policy);
  return `to ${redrive.target.split(':').at(-1)} after ${redrive.maxReceiveCount} receives`;
}

async function findSubscription(sns: SNSClient, topicArn: string, queueArn: string): Promise<string | undefined> {
  let token: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token }));
    const existing = page.Subscriptions?.find((s) => s.Protocol === 'sqs' && s.Endpoint === queueArn);
    if (existing?.SubscriptionArn) return existing.SubscriptionArn;
    token = page.NextToken;
  } while (token);
  return undefined;
}

/** Verifies the sender: SESv2 where the endpoint has it, the classic API otherwise. */
async function ensureIdentity(config: ResolvedConfig, steps: InfraReporter): Promise<void> {
  const clientConfig = { region: config.aws.region, endpoint: config.awsTransport.endpoint };
  const sender = config.emailer.sender;
  const found = (status: string) => steps.kept('ses identity', sender, `found (unchanged): ${status}`);
  const create = () =>
    steps.created(
      'ses identity',
      sender,
      steps.dryRun
        ? `AWS would send a verification email to ${sender}`
        : `confirm the verification email sent to ${sender}`,
    );
  if (config.awsTransport.sesApi !== 'v1') {
    const v2 = new SESv2Client(clientConfig);
    try {
      try {
        const identity = await v2.send(new GetEmailIdentityCommand({ EmailIdentity: sender }));
        found(
          identity.VerifiedForSendingStatus || identity.VerificationStatus === 'SUCCESS'
            ? 'verified'
            : `verification ${String(identity.VerificationStatus ?? 'pending').toLowerCase()}`,
        );
        return;
      } catch (err) {
        if ((err as Error).name !== 'NotFoundException') throw err;
      }
      if (!steps.dryRun) await v2.send(new CreateEmailIdentityCommand({ EmailIdentity: sender }));
      create();
      return;
    } catch (err) {
      if (config.awsTransport.sesApi === 'v2' || !isApiMissing(err)) throw err;
      // The endpoint has no SESv2 (LocalStack community): use the classic API below.
    } finally {
      v2.destroy();
    }
  }
  const v1 = new SESClient(clientConfig);
  try {
    // Some emulators report any address as verified; only a listed identity really exists.
    if (await isListedIdentity(v1, sender)) {
      const attributes = await v1.send(new GetIdentityVerificationAttributesCommand({ Identities: [sender] }));
      const status = attributes.VerificationAttributes?.[sender]?.VerificationStatus;
      found(status === 'Success' ? 'verified' : `verification ${String(status ?? 'pending').toLowerCase()}`);
      return;
    }
    if (!steps.dryRun) await v1.send(new VerifyEmailIdentityCommand({ EmailAddress: sender }));
    create();
  } finally {
    v1.destroy();
  }
}

async function isListedIdentity(ses: SESClient, identity: string): Promise<boolean> {
  let token: string | undefined;
  do {
    const page = await ses.send(
      new ListIdentitiesCommand({ IdentityType: 'EmailAddress', NextToken: token, MaxItems: 1000 }),
    );
    if (page.Identities?.includes(identity)) return true;
    token = page.NextToken;
  } while (token);
  return false;
}
