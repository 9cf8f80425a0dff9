import type { ResolvedTracingConfig } from '@herald/core/config';
import { createLogThrottle, type Logger } from '@herald/core/runtime';
import { Tracing } from '@herald/core/tracing';
import { TraceFlags, trace } from '@opentelemetry/api';
import { setGlobalErrorHandler } from '@opentelemetry/core';
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
  /** Sends the spans still buffered, then stops; waits at most a few seconds for the collector. */
  shutdown(): Promise<void>;
}

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
  const failures = createLogThrottle(options.logger, { intervalMs: 60_000, burst: 1 });
  setGlobalErrorHandler((err) => {
    failures.warn('export', { err: err instanceof Error ? err.message : String(err) }, 'traces could not be exported');
  });
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': options.version }));
  const exporter = options.exporter ?? new OTLPTraceExporter(config.endpoint ? { url: config.endpoint } : {});
  const provider = new NodeTracerProvider({
    resource,
    // Undefined: the SDK reads OTEL_TRACES_SAMPLER (parent-based, always on, by default).
    ...(config.sampleRatio === undefined
      ? {}
      : { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }) }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  provider.register();
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
      try {
        await provider.shutdown();
      } finally {
        failures.flush();
      }
    },
  };
}
