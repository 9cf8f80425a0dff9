/**
 * `@herald/core/runtime`: small utilities every running part shares. One retry/backoff module
 * (with `Retry-After` and abort detection), one reconnect loop, one secrets reader, logging,
 * the in-process queue, and the checks for AWS and gRPC errors.
 */
export * from './aws-errors.js';
export * from './aws-sends.js';
export * from './grpc.js';
export * from './lazy-aws-client.js';
export * from './log-throttle.js';
export * from './logger.js';
export * from './memory-queue.js';
export * from './pubsub-client.js';
export * from './reconnect.js';
export * from './retry.js';
export {
  type Environment,
  findSecret,
  findSmtpPassword,
  readSecret,
  readSecretValue,
  SECRET_STAND_IN,
  type SecretReader,
  type SecretSources,
  type SecretValue,
  secretReader,
  secretStandIns,
  smtpPasswordPlaces,
} from './secrets.js';
export * from './settles-within.js';
