export {
  formatDeliveries,
  type RenderedDelivery,
  type RenderedEmail,
  type RenderedRequest,
  renderDeliveries,
} from './commands/render.js';
export {
  BodyTooLargeError,
  bearerMatches,
  createIngestHandler,
  INGEST_MEDIA_TYPES,
  type IngestHandler,
  type IngestOptions,
  mediaTypeOf,
  parseIngestBody,
  RequestAbortedError,
  readBody,
  sha256,
} from './http/ingest.js';
export {
  createMetrics,
  type HeraldMetrics,
  INGEST_REJECTIONS,
  type IngestRejection,
  type MetricsSource,
} from './http/metrics.js';
export { HttpServer, type HttpServerOptions } from './http/server.js';
export { awsInfraUp, type InfraStep, topicNameOf } from './infra/aws.js';
export { gcpInfraUp } from './infra/gcp.js';
export { EventInputError, type EventLocation, parseEvents } from './inputs.js';
export { type CliIo, main } from './main.js';
