import {
  GetIdentityVerificationAttributesCommand,
  ListIdentitiesCommand,
  SESClient,
  VerifyEmailIdentityCommand,
} from '@aws-sdk/client-ses';
import { CreateEmailIdentityCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  CreateTopicCommand,
  ListSubscriptionsByTopicCommand,
  SetSubscriptionAttributesCommand,
  SNSClient,
  SubscribeCommand,
} from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { isNonExistentQueueError } from '@herald/core/runtime';
import { isApiMissing } from '@herald/emailer';

/** One line of `herald infra up` output: what, which, and whether it was created or found. */
export interface InfraStep {
  resource: string;
  name: string;
  status: string;
}

/**
 * Creates, idempotently, what `type: aws` needs: the SNS topic, the dead-letter queue, the
 * queue with its redrive policy and a policy letting the topic write to it, the topic → queue
 * subscription (raw delivery), and the SES sender identity. Each call reports what it created
 * or found; running it twice changes nothing.
 */
export async function awsInfraUp(config: ResolvedConfig, report: (step: InfraStep) => void): Promise<void> {
  const clientConfig = { region: config.aws.region, endpoint: config.awsTransport.endpoint };
  const sns = new SNSClient(clientConfig);
  const sqs = new SQSClient(clientConfig);
  try {
    const topicName = topicNameOf(config.publisher.topicName);
    const topic = await sns.send(new CreateTopicCommand({ Name: topicName }));
    const topicArn = topic.TopicArn ?? '';
    report({ resource: 'sns topic', name: topicArn, status: 'ready' });
    if (topicArn !== config.publisher.topicName) {
      report({
        resource: 'warning',
        name: `the topic's ARN is ${topicArn}`,
        status: `but notifications.publisher.topicName says ${config.publisher.topicName}`,
      });
    }

    const dlq = await ensureQueue(sqs, config.awsTransport.deadLetterQueueName, {});
    report({
      resource: 'sqs queue',
      name: config.awsTransport.deadLetterQueueName,
      status: dlq.created ? 'created' : 'found',
    });

    const queueAttributes = {
      VisibilityTimeout: String(config.awsTransport.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.arn,
        maxReceiveCount: config.awsTransport.maxReceiveCount,
      }),
    };
    const queue = await ensureQueue(sqs, config.processor.queueName, queueAttributes);
    report({
      resource: 'sqs queue',
      name: `${config.processor.queueName} (to ${config.awsTransport.deadLetterQueueName} after ${config.awsTransport.maxReceiveCount} receives)`,
      status: queue.created ? 'created' : 'found, redrive policy set',
    });

    await sqs.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: queuePolicy(queue.arn, topicArn) } }),
    );
    report({ resource: 'queue policy', name: `${topicName} may send to ${config.processor.queueName}`, status: 'set' });

    const subscription = await ensureSubscription(sns, topicArn, queue.arn);
    report({
      resource: 'subscription',
      name: `${topicName} -> ${config.processor.queueName} (raw delivery)`,
      status: subscription,
    });

    if (config.emailer.provider === 'ses') {
      report({ resource: 'ses identity', name: config.emailer.sender, status: await ensureIdentity(config) });
    }
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

async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; arn: string; created: boolean }> {
  let url: string | undefined;
  try {
    url = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (err) {
    if (!isNonExistentQueueError(err)) throw err;
  }
  const created = url === undefined;
  if (url === undefined) {
    url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl ?? '';
  } else if (Object.keys(attributes).length > 0) {
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: attributes }));
  }
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: out.Attributes?.QueueArn ?? '', created };
}

function queuePolicy(queueArn: string, topicArn: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'herald-sns-to-sqs',
        Effect: 'Allow',
        Principal: { Service: 'sns.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnEquals: { 'aws:SourceArn': topicArn } },
      },
    ],
  });
}

async function ensureSubscription(sns: SNSClient, topicArn: string, queueArn: string): Promise<string> {
  let token: string | undefined;
  do {
    const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn, NextToken: token }));
    const existing = page.Subscriptions?.find((s) => s.Protocol === 'sqs' && s.Endpoint === queueArn);
    if (existing?.SubscriptionArn) {
      await sns.send(
        new SetSubscriptionAttributesCommand({
          SubscriptionArn: existing.SubscriptionArn,
          AttributeName: 'RawMessageDelivery',
          AttributeValue: 'true',
        }),
      );
      return 'found';
    }
    token = page.NextToken;
  } while (token);
  await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: queueArn,
      Attributes: { RawMessageDelivery: 'true' },
      ReturnSubscriptionArn: true,
    }),
  );
  return 'created';
}

/** Verifies the sender: SESv2 where the endpoint has it, the classic API otherwise. */
async function ensureIdentity(config: ResolvedConfig): Promise<string> {
  const clientConfig = { region: config.aws.region, endpoint: config.awsTransport.endpoint };
  const sender = config.emailer.sender;
  if (config.awsTransport.sesApi !== 'v1') {
    const v2 = new SESv2Client(clientConfig);
    try {
      try {
        const identity = await v2.send(new GetEmailIdentityCommand({ EmailIdentity: sender }));
        return identity.VerifiedForSendingStatus || identity.VerificationStatus === 'SUCCESS'
          ? 'verified'
          : `found, verification ${String(identity.VerificationStatus ?? 'pending').toLowerCase()}`;
      } catch (err) {
        if ((err as Error).name !== 'NotFoundException') throw err;
      }
      await v2.send(new CreateEmailIdentityCommand({ EmailIdentity: sender }));
      return `created: confirm the verification email sent to ${sender}`;
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
      if (status === 'Success') return 'verified';
      return `found, verification ${String(status ?? 'pending').toLowerCase()}`;
    }
    await v1.send(new VerifyEmailIdentityCommand({ EmailAddress: sender }));
    return `created: confirm the verification email sent to ${sender}`;
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
