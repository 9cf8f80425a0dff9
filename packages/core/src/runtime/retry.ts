/**
 * The small pieces every retry in Herald is made of — how long to wait, what a server asked us
 * to wait, and whether a failure was our own timeout or shutdown — so that each transport
 * decides "retry or not" in its own one function without re-deriving these.
 */

/** Exponential backoff settings. */
export interface BackoffPolicy {
  /** Delay after the first failure, before jitter. */
  baseDelayMs: number;
  /** Cap on any delay, including one a server's Retry-After asks for. */
  maxDelayMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed ones (1-based): base × 2^(attempt-1),
 * capped, with "equal jitter" (half fixed, half random) so retries of a burst spread out
 * without ever collapsing to zero. A server's Retry-After is a floor.
 *
 * @param retryAfterMs - what the server asked for; the result is at least this, up to the cap.
 * @param random - source of the jitter in [0, 1); a test passes a constant.
 * @example
 * ```ts
 * backoffDelayMs({ baseDelayMs: 1000, maxDelayMs: 30_000 }, 3); // 2000–4000
 * ```
 */
export function backoffDelayMs(
  policy: BackoffPolicy,
  attempt: number,
  retryAfterMs = 0,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + (random() * exponential) / 2;
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, policy.maxDelayMs)));
}

/**
 * A `Retry-After` header value — delay-seconds or an HTTP date — as milliseconds from `now`,
 * never negative. `undefined` when there is no value or it is neither form, so a caller can
 * fall back to another hint (SendGrid's rate-limit reset) or to its own backoff.
 *
 * @example
 * ```ts
 * parseRetryAfterMs(response.headers.get('retry-after')); // '7' → 7000
 * ```
 */
export function parseRetryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * True when `err` is an aborted operation — a signal fired by shutdown or by a timeout. fetch,
 * the AWS SDK and Node's fs name the error `AbortError`, or `TimeoutError` when the signal came
 * from `AbortSignal.timeout()`; the name is what they share, not a class. Such a failure says
 * nothing about the message, so callers retry it.
 */
export function isAbortError(err: unknown): boolean {
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}
