export * from './aws-errors.js';
export * from './codec.js';
export * from './config/defaults.js';
export * from './config/load.js';
export * from './config/resolved.js';
export * from './config/secrets.js';
export * from './errors.js';
export * from './event.js';
export { canonicalJson, deriveEventId } from './event-id.js';
export * from './grpc.js';
export { describeIssues, describeValue, formatPath, type ValueDescriber } from './issues.js';
export * from './log-throttle.js';
export * from './logger.js';
export * from './memory-queue.js';
export * from './phases.js';
export * from './reconnect.js';
export * from './render/context.js';
export { EVENT_TEMPLATE_LIMITS, type EventTemplatePart } from './render/event-template-limits.js';
export type { EventEmailSources } from './render/event-template-worker.js';
export { templateHelpers } from './render/helpers.js';
export { htmlToText } from './render/html-to-text.js';
export * from './render/placeholders.js';
export * from './render/renderer.js';
export * from './retry.js';
export * from './sample-event.js';
export {
  findSecret,
  readSecret,
  readSecretValue,
  SECRET_STAND_IN,
  type SecretReader,
  type SecretSources,
  type SecretValue,
  secretReader,
  secretStandIns,
} from './secrets.js';
export * from './settles-within.js';
export { httpUrlProblem, maskUrlCredentials } from './urls.js';
