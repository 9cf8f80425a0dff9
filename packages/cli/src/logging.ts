import type { Logger } from '@herald/core/runtime';
import pino from 'pino';
import { gcpLogOptions } from './gcp-log-format.js';
import { type LogFormat, type LogMixin, logFormatFor } from './log-options.js';

/** How {@link createLogger} writes. */
export interface LogOptions {
  /**
   * `json` lines (`"level":"info"`), `pretty` readable lines, or `gcp` lines for Cloud Logging.
   * @defaultValue `pretty` when the stream is a terminal, else `json`
   */
  format?: LogFormat | undefined;
  /**
   * Fields added to every line (pino's `mixin`); the fields a call logs win over them. This is
   * where trace correlation goes: for `gcp`, `logging.googleapis.com/trace`
   * (`projects/PROJECT/traces/TRACE_ID`), `logging.googleapis.com/spanId` and
   * `logging.googleapis.com/trace_sampled` of the active span.
   * @example
   * createLogger('info', { format: 'gcp', mixin: () => ({ 'logging.googleapis.com/spanId': spanId() }) })
   */
  mixin?: LogMixin | undefined;
  /** @defaultValue process.stderr: stdout is kept for command output */
  stream?: NodeJS.WritableStream | undefined;
}

/**
 * The CLI's logger: JSON lines on stderr, or readable lines when stderr is a terminal.
 * Secrets never reach it: config values are not logged.
 */
export async function createLogger(level: string, options: LogOptions = {}): Promise<Logger & pino.Logger> {
  const stream = options.stream ?? process.stderr;
  const terminal = (stream as { isTTY?: boolean }).isTTY === true;
  const format = logFormatFor(stream, options.format);
  const { mixin } = options;
  const common = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    // pino merges a line's fields into the object the mixin returns: a copy, so that a mixin
    // returning one constant object does not collect every line's fields.
    mixin: mixin && ((fields: object, levelNumber: number) => ({ ...mixin(fields, levelNumber) })),
  };
  if (format === 'pretty') {
    // Loaded only here: it adds tens of milliseconds to start-up, which a process logging JSON
    // (every deployed one) never needs to pay.
    const { default: pretty } = await import('pino-pretty');
    const destination = pretty({
      destination: stream,
      colorize: terminal,
      translateTime: 'HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
    });
    return pino(common, destination);
  }
  const shape =
    format === 'gcp' ? gcpLogOptions(mixin) : { formatters: { level: (label: string) => ({ level: label }) } };
  return pino({ ...common, ...shape }, destinationOf(stream));
}

/**
 * A stream with a file descriptor (stderr) is written through pino's synchronous destination,
 * so the last lines before an exit are not lost; any other stream (a test's) is written as is.
 */
function destinationOf(stream: NodeJS.WritableStream): pino.DestinationStream {
  const { fd } = stream as { fd?: unknown };
  return typeof fd === 'number' ? pino.destination({ fd, sync: true }) : (stream as pino.DestinationStream);
}
