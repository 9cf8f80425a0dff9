import type { ExecutionEvent } from '../contract/event.js';
import { sampleEvent } from '../contract/sample-event.js';

/** Identifier fields as FlyteAdmin exposes them to templates: missing parts are empty strings. */
export interface TemplateIdentifier {
  project: string;
  domain: string;
  name: string;
  version: string;
}

/**
 * Everything a template can use. The first block are FlyteAdmin's placeholders with
 * FlyteAdmin's exact values; the rest is Herald's.
 */
export interface TemplateContext {
  project: string;
  domain: string;
  name: string;
  /** Lower-case phase, as FlyteAdmin renders it: `timed_out`. */
  phase: string;
  /** ` The execution failed with error: [<message>].`, or empty. */
  error: string;
  workflow: TemplateIdentifier;
  launch_plan: TemplateIdentifier;

  /** The whole validated event, unknown fields included. */
  event: ExecutionEvent;
  /** The execution's identifier: `{{ execution.name }}`. */
  execution: { project: string; domain: string; name: string };
  /** Upper-case phase as on the wire: `TIMED_OUT`. */
  phaseName: string;
  previousPhase: string;
  errorMessage: string;
  errorCode: string;
  url: string;
  labels: Record<string, string>;
  startedAt: string;
  endedAt: string;
  /** endedAt - startedAt in milliseconds, when both are known. */
  durationMs: number | undefined;
  /** durationMs as `1h 2m 3s`, or empty. */
  duration: string;
}

/** FlyteAdmin's error sentence, character for character. */
export function flyteErrorSentence(message: string | undefined): string {
  return message === undefined ? '' : ` The execution failed with error: [${message}].`;
}

/** Builds the template context for one event. */
let sample: TemplateContext | undefined;

/**
 * The context of the complete sample event, built once: templates are trial-rendered on it when
 * they compile, so an unknown helper or a missing partial fails at load time.
 */
export function sampleTemplateContext(): TemplateContext {
  sample ??= buildTemplateContext(sampleEvent());
  return sample;
}

export function buildTemplateContext(event: ExecutionEvent): TemplateContext {
  const durationMs =
    event.startedAt && event.endedAt ? Date.parse(event.endedAt) - Date.parse(event.startedAt) : undefined;
  return {
    project: event.execution.project,
    domain: event.execution.domain,
    name: event.execution.name,
    phase: event.phase.toLowerCase(),
    error: flyteErrorSentence(event.error?.message),
    workflow: identifier(event.workflow),
    launch_plan: identifier(event.launchPlan),
    event,
    execution: { project: event.execution.project, domain: event.execution.domain, name: event.execution.name },
    phaseName: event.phase,
    previousPhase: event.previousPhase ?? '',
    errorMessage: event.error?.message ?? '',
    errorCode: event.error?.code ?? '',
    url: event.url ?? '',
    labels: event.labels ?? {},
    startedAt: event.startedAt ?? '',
    endedAt: event.endedAt ?? '',
    durationMs,
    duration: durationMs === undefined ? '' : formatDuration(durationMs),
  };
}

function identifier(
  id: { project: string; domain: string; name: string; version?: string | undefined } | undefined,
): TemplateIdentifier {
  return {
    project: id?.project ?? '',
    domain: id?.domain ?? '',
    name: id?.name ?? '',
    version: id?.version ?? '',
  };
}

/** `3725000` -> `1h 2m 5s`; sub-second durations as `350ms`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const parts: string[] = [];
  if (days) parts.push(`${days}d`);
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (seconds || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join(' ');
}
