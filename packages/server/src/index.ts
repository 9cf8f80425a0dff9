export { HeraldApp, type HeraldAppOptions } from './app.js';
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
