import type { Logger } from './logger.js';

/** FlyteAdmin's `reconnectAttempts` / `reconnectDelaySeconds`. */
export interface ReconnectPolicy {
  /** Retries after the first try. @defaultValue 0 */
  attempts?: number | undefined;
  /** @defaultValue 0 */
  delaySeconds?: number | undefined;
}

/**
 * Runs a start-up call (does the topic / queue / subscription exist?), retrying it while the
 * service cannot be reached: `policy.attempts` more times, `policy.delaySeconds` apart, as
 * FlyteAdmin does. An error for which `isUnreachable` is false — the service answered — is
 * thrown at once; after the last attempt the last error is thrown. Callers turn either into
 * their own message.
 */
export async function withReconnect<T>(
  service: string,
  policy: ReconnectPolicy,
  logger: Logger,
  isUnreachable: (err: unknown) => boolean,
  call: () => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, (policy.attempts ?? 0) + 1);
  const delayMs = (policy.delaySeconds ?? 0) * 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isUnreachable(err) || attempt >= attempts) throw err;
      logger.warn({ attempt, attempts, delayMs, error: (err as Error).message }, `${service} not reachable; retrying`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
