import type pino from 'pino';
import type { LogMixin } from './log-options.js';

/**
 * pino's levels as Cloud Logging's `LogSeverity` names. Cloud Logging has no level below DEBUG,
 * so `trace` shares it; `fatal` (the process cannot go on) is CRITICAL.
 */
const SEVERITY: Readonly<Record<string, string>> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** pino's number for `error`. */
const ERROR_LEVEL = 50;

/**
 * The pino options that make a JSON line what Cloud Logging's agent reads into a LogEntry:
 * `severity` (not `level`), `message` (not `msg`) and `time` (RFC 3339, pino's ISO time, which
 * the caller sets). An error logged at `error` or `fatal` under `err` also carries its stack as
 * `stack_trace`, the first field Error Reporting looks for; warnings keep theirs under `err` only,
 * because a retried failure is not an incident to report.
 * @param mixin fields added to every line before these, such as Cloud Trace's
 *   `logging.googleapis.com/trace` and `logging.googleapis.com/spanId`.
 */
export function gcpLogOptions(mixin?: LogMixin): pino.LoggerOptions {
  return {
    messageKey: 'message',
    formatters: { level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }) },
    mixin: (fields, level) => ({ ...mixin?.(fields, level), ...stackTrace(fields, level) }),
  };
}

function stackTrace(fields: object, level: number): { stack_trace?: string } {
  if (level < ERROR_LEVEL) return {};
  const { err } = fields as { err?: unknown };
  return err instanceof Error && err.stack ? { stack_trace: err.stack } : {};
}
