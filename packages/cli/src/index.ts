export {
  formatDeliveries,
  type Rendered,
  type RenderedDelivery,
  type RenderedEmail,
  type RenderedRequest,
  renderDeliveries,
} from './commands/render.js';
export { awsInfraUp, type InfraStep, topicNameOf } from './infra/aws.js';
export { gcpInfraUp } from './infra/gcp.js';
export { type CliIo, main } from './main.js';
