import type { LogFormat, LogMixin } from './log-options.js';

/** The ids of the span a log line is written in. */
export interface ActiveSpanIds {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

/**
 * Set once tracing starts (see tracing.ts), which is after the logger exists: the logger is
 * made before the config is read, tracing only once it has been.
 */
let activeSpan: (() => ActiveSpanIds | undefined) | undefined;
let gcpProjectId: string | undefined;

/**
 * Has every log line from now on name the span it is written in.
 * @param projectId the Google Cloud project traces are in, for Cloud Logging's trace field.
 */
export function correlateLogs(spanIds: () => ActiveSpanIds | undefined, projectId: string | undefined): void {
  activeSpan = spanIds;
  gcpProjectId = projectId;
}

/**
 * The log lines' trace fields, as the format's readers expect them: OpenTelemetry's `trace_id`
 * and `span_id` in JSON (what Loki, Elastic and Datadog link to traces by), Cloud Logging's
 * `logging.googleapis.com/trace` (a resource name when the project is known), `spanId` and
 * `trace_sampled` for `gcp`. Nothing until tracing starts, nor outside a span.
 */
export function traceFields(format: LogFormat): LogMixin {
  return () => {
    const ids = activeSpan?.();
    if (!ids) return {};
    if (format !== 'gcp') return { trace_id: ids.traceId, span_id: ids.spanId };
    return {
      'logging.googleapis.com/trace': gcpProjectId ? `projects/${gcpProjectId}/traces/${ids.traceId}` : ids.traceId,
      'logging.googleapis.com/spanId': ids.spanId,
      'logging.googleapis.com/trace_sampled': ids.sampled,
    };
  };
}
