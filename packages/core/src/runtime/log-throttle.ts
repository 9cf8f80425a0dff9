import type { Logger } from './logger.js';

/** Options of {@link createLogThrottle}. */
export interface LogThrottleOptions {
  /** Length of one window, in ms: each key logs at most `burst` lines per window. */
  intervalMs: number;
  /** Lines one key may log per window before the rest are only counted. */
  burst: number;
}

/** A warning logger that a flood of one kind of warning cannot turn into a flood of lines. */
export interface LogThrottle {
  /**
   * Logs `message` at warn level, unless `key` has already logged `burst` lines in the current
   * window; then the line is counted, and when the window ends one summary line per message says
   * how many were left out, by key.
   * @param key what makes warnings alike, e.g. a refusal reason; keep the set of keys small.
   */
  warn(key: string, fields: object, message: string): void;
  /** Writes the summary of what was left out so far, if anything, and ends the window. */
  flush(): void;
}

/**
 * Rate-limits repeated warnings: per key, the first `burst` lines of each `intervalMs` window
 * are logged as they come; the rest are counted, and at the end of the window one line per
 * message reports them, e.g.
 * `{"suppressed":{"unauthorized":3990},"intervalMs":10000} ingest request refused: 3990 more in the last 10 s`.
 * Nothing is lost from the count, and a quiet period costs nothing: the window's timer runs only
 * while warnings come, and never holds the process open.
 * @example
 * const refused = createLogThrottle(logger, { intervalMs: 10_000, burst: 5 });
 * refused.warn(reason, { status, reason }, 'ingest request refused');
 * // on shutdown, so the last window's count is not lost:
 * refused.flush();
 */
export function createLogThrottle(logger: Logger, options: LogThrottleOptions): LogThrottle {
  /** Lines logged per key in the current window. */
  const logged = new Map<string, number>();
  /** Lines left out in the current window: message -> key -> count. */
  const suppressed = new Map<string, Map<string, number>>();
  let windowStart = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const endWindow = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const seconds = Math.max(1, Math.round((Date.now() - windowStart) / 1000));
    for (const [message, byKey] of suppressed) {
      let total = 0;
      for (const count of byKey.values()) total += count;
      logger.warn(
        { suppressed: Object.fromEntries(byKey), intervalMs: options.intervalMs },
        `${message}: ${total} more in the last ${seconds} s`,
      );
    }
    logged.clear();
    suppressed.clear();
  };

  return {
    warn(key, fields, message) {
      if (timer === undefined) {
        windowStart = Date.now();
        timer = setTimeout(endWindow, options.intervalMs);
        // A summary still pending must not keep a stopping process alive; flush() writes it.
        timer.unref?.();
      }
      const count = logged.get(key) ?? 0;
      if (count < options.burst) {
        logged.set(key, count + 1);
        logger.warn(fields, message);
        return;
      }
      const byKey = suppressed.get(message) ?? new Map<string, number>();
      byKey.set(key, (byKey.get(key) ?? 0) + 1);
      suppressed.set(message, byKey);
    },
    flush() {
      if (timer !== undefined) endWindow();
    },
  };
}
