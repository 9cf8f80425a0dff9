import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { isNonExistentQueueError } from '@herald/core/runtime';

/**
 * The URL of a queue the config names, in the account that owns the processor's queue.
 * @throws HeraldError saying how to create it when it does not exist.
 */
export async function sqsQueueUrl(sqs: SQSClient, config: ResolvedConfig, name: string): Promise<string> {
  try {
    const owner = config.processor.accountId || undefined;
    const out = await sqs.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: owner }));
    return out.QueueUrl ?? '';
  } catch (err) {
    if (isNonExistentQueueError(err)) {
      throw new HeraldError(`SQS queue '${name}' does not exist (create it with \`herald infra up\`)`);
    }
    throw err;
  }
}
