/**
 * Kinds of AWS SDK error that more than one package acts on. The SDK marks them by `name` (its
 * error code), and a service can answer in either of its protocols, so each kind may have two.
 */

/** True for an AWS SDK error that carries no HTTP answer: connection refused or reset, DNS, TLS. */
export function isUnansweredAwsError(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === undefined;
}

/**
 * True when SQS says the queue does not exist. The JSON protocol names it `QueueDoesNotExist`;
 * the query protocol, which older SDKs and some emulators still speak, keeps the legacy code
 * `AWS.SimpleQueueService.NonExistentQueue`.
 */
export function isNonExistentQueueError(err: unknown): boolean {
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue';
}
