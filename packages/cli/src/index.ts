export {
  formatDeliveries,
  type Rendered,
  type RenderedDelivery,
  type RenderedEmail,
  type RenderedRequest,
  renderDeliveries,
} from './commands/render.js';
export { awsInfraUp, topicNameOf } from './infra/aws.js';
export { gcpInfraUp } from './infra/gcp.js';
export {
  HERALD_STATEMENT_SID,
  heraldStatement,
  mergeQueuePolicy,
  type PolicyMerge,
} from './infra/queue-policy.js';
export type { InfraAction, InfraOptions, InfraStep } from './infra/steps.js';
export { type CliIo, main } from './main.js';
