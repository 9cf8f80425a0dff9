import type { Logger } from '@herald/core/runtime';
import pino from 'pino';
import pretty from 'pino-pretty';

/**
 * The CLI's logger: JSON lines on stderr (stdout is kept for command output), or readable
 * lines when stderr is a terminal. Secrets never reach it: config values are not logged.
 */
export function createLogger(level: string, stream: NodeJS.WriteStream = process.stderr): Logger & pino.Logger {
  const destination = stream.isTTY
    ? pretty({ destination: stream, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true })
    : pino.destination({ fd: (stream as { fd?: number }).fd ?? 2, sync: true });
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
