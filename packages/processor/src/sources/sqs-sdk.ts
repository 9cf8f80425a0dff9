export type SqsModule = typeof import('@aws-sdk/client-sqs');

let loading: Promise<SqsModule> | undefined;

/**
 * The SQS client library, imported on first use (an SQS source starting, a delete or a
 * visibility change being sent): sandbox and Pub/Sub deployments never load it.
 */
export function loadSqs(): Promise<SqsModule> {
  loading ??= import('@aws-sdk/client-sqs');
  return loading;
}
