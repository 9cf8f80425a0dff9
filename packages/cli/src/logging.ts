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
  /**
   * Lines are gathered and written a few kilobytes at a time, at most {@link BUFFERED_FLUSH_MS}
   * after they were logged, and whatever is left when the process exits (normally, on a fatal
   * error or a signal it handles). For a long-running processor: one write per line was one
   * system call per delivery, about a tenth of its CPU while draining a backlog. A process killed
   * with SIGKILL loses the last fraction of a second of lines; the delivery log keeps the truth.
   * Only for a stream with a file descriptor (stderr); any other is written as is.
   * @defaultValue false: every line is written before the call returns
   */
  buffered?: boolean | undefined;
}

/** The longest a buffered line waits before it is written. */
export const BUFFERED_FLUSH_MS = 100;
/** A buffered logger writes once this many characters are waiting. */
const BUFFERED_MIN_LENGTH = 4096;

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
  return pino({ ...common, ...shape }, destinationOf(stream, options.buffered === true));
}

/**
 * A stream with a file descriptor (stderr) is written through pino's own destination:
 * synchronously, so the last lines before an exit are not lost, or buffered, and then pino
 * writes what is left synchronously when the process exits. Any other stream (a test's) is
 * written as is.
 */
function destinationOf(stream: NodeJS.WritableStream, buffered: boolean): pino.DestinationStream {
  const { fd } = stream as { fd?: unknown };
  if (typeof fd !== 'number') return stream as pino.DestinationStream;
  return buffered
    ? pino.destination({ fd, sync: false, minLength: BUFFERED_MIN_LENGTH, periodicFlush: BUFFERED_FLUSH_MS })
    : pino.destination({ fd, sync: true });
}
