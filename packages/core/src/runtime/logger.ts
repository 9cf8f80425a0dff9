/**
 * The logging surface Herald's packages use. pino satisfies it; tests pass {@link silentLogger}.
 * Structured fields go first, as pino expects: `log.info({ messageId }, 'delivered')`.
 */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
