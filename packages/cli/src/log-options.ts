// The choices of `--log-level` and `--log-format`, known without loading pino: `herald validate`
// and `herald --version` never load the logger.

/** Log levels `--log-level` accepts (pino's). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * What `--log-format` (or `HERALD_LOG_FORMAT`) accepts: `json` lines with `level` as a name,
 * `pretty` readable lines, `gcp` JSON lines with the fields Google Cloud Logging reads
 * (`severity`, `message`, `time`, `stack_trace`).
 */
export const LOG_FORMATS = ['json', 'pretty', 'gcp'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format a stream gets unless one is asked for: readable lines on a terminal, JSON lines elsewhere. */
export function logFormatFor(stream: NodeJS.WritableStream, asked?: LogFormat): LogFormat {
  return asked ?? ((stream as { isTTY?: boolean }).isTTY === true ? 'pretty' : 'json');
}

/**
 * Fields to add to every log line, given the fields a call logs and pino's level number
 * (pino's `mixin`): the place for trace correlation fields.
 */
export type LogMixin = (fields: object, level: number) => object;
