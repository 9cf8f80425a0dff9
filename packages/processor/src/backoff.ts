/** Exponential backoff settings. */
export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before attempt `attempt + 1`, after `attempt` failed ones (1-based): base × 2^(attempt-1),
 * capped, with "equal jitter" (half fixed, half random) so retries of a burst spread out
 * without ever collapsing to zero. A server's Retry-After is a floor.
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
