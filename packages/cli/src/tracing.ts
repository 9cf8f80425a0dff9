import type { ResolvedTracingConfig } from '@herald/core/config';
import { createLogThrottle, type Logger } from '@herald/core/runtime';
import { Tracing } from '@herald/core/tracing';
import { DiagLogLevel, diag, TraceFlags, trace } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-node';
import { correlateLogs } from './log-correlation.js';

// This module is the only one that loads OpenTelemetry's SDK, and commands import it only when
// tracing is on (`herald.tracing`, or the OTEL_* variables): without it a process creates no
// span and loads nothing of OpenTelemetry.

/** Tracing as a command runs it: the spans' maker, and the flush that must end the command. */
export interface TracingSession {
  readonly tracing: Tracing;
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /**
   * Sends the spans still buffered, then stops. Never throws, and waits at most
   * {@link SHUTDOWN_WAIT_MS} for the collector: a command's end (a publish's exit status, a
   * pod's drain) never waits on traces.
   */
  shutdown(): Promise<void>;
}

/** The longest a command's end waits for its last spans to reach the collector. */
export const SHUTDOWN_WAIT_MS = 3_000;

/**
 * The longest attribute value kept, unless OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT says otherwise:
 * some values come from events (an execution's name, a destination's addresses), and one
 * oversized event must not make a batch of spans too large for the collector.
 */
const ATTRIBUTE_VALUE_LENGTH_LIMIT = 256;

/** Options of {@link startTracing}. */
export interface StartTracingOptions {
  logger: Logger;
  /** `service.version` of every span. */
  version: string;
  /** Where spans go instead of the OTLP exporter the config describes (tests). */
  exporter?: SpanExporter;
  /** The Google Cloud project the traces belong to, for Cloud Logging's trace field. */
  gcpProjectId?: string | undefined;
}

/**
 * Starts OpenTelemetry's SDK for this process and registers it globally: the tracer provider,
 * W3C Trace Context (and Baggage) as the propagator, and async-hooks context, so spans started
 * anywhere in the process — Herald's, and a library's — join the trace that is active.
 *
 * Spans go out in batches over OTLP/HTTP (JSON) to `herald.tracing.endpoint`, or where the
 * standard OTEL_EXPORTER_OTLP_* variables say (headers and timeouts included). A collector that
 * cannot be reached costs a throttled warning, never a delivery.
 */
export function startTracing(config: ResolvedTracingConfig, options: StartTracingOptions): TracingSession {
  const { logger } = options;
  const failures = createLogThrottle(logger, { intervalMs: 60_000, burst: 1 });
  let ended = false;
  const exportFailed = (err: unknown) => {
    // Once the command has ended and said so, an export still retrying in the background is not news.
    if (ended) return;
    failures.warn('export', { err: err instanceof Error ? err.message : String(err) }, 'traces could not be exported');
  };
  setGlobalErrorHandler(exportFailed);
  // The SDK's own complaints (an OTEL_* value it cannot read) reach the log instead of nowhere.
  diag.setLogger(
    {
      error: (message) => logger.warn({ source: 'opentelemetry' }, message),
      warn: (message) => logger.warn({ source: 'opentelemetry' }, message),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  // Herald's name and version, under what OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say,
  // under what the file says.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'herald', 'service.version': options.version }))
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes(config.serviceName ? { 'service.name': config.serviceName } : {}));
  const exporter = options.exporter ?? new OTLPTraceExporter(config.endpoint ? { url: config.endpoint } : {});
  const limitsFromEnvironment =
    process.env.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT || process.env.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT;
  const provider = new NodeTracerProvider({
    resource,
    // Undefined: the SDK reads OTEL_TRACES_SAMPLER (parent-based, always on, by default).
    ...(config.sampleRatio === undefined
      ? {}
      : { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }) }),
    ...(limitsFromEnvironment ? {} : { spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LENGTH_LIMIT } }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // W3C Trace Context alone: a caller's baggage is not carried into the queue's messages.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  correlateLogs(() => {
    const span = trace.getActiveSpan();
    if (!span) return undefined;
    const { traceId, spanId, traceFlags } = span.spanContext();
    return { traceId, spanId, sampled: (traceFlags & TraceFlags.SAMPLED) !== 0 };
  }, options.gcpProjectId);
  return {
    tracing: new Tracing(provider.getTracer('herald', options.version)),
    flush: () => provider.forceFlush(),
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          exportFailed(new Error(`the last spans were not sent within ${SHUTDOWN_WAIT_MS} ms`));
          resolve();
        }, SHUTDOWN_WAIT_MS);
        timer.unref();
      });
      try {
        await Promise.race([provider.shutdown().catch(exportFailed), gaveUp]);
      } finally {
        clearTimeout(timer);
        failures.flush();
        ended = true;
      }
    },
  };
}
