import { HeraldError } from '../contract/errors.js';
import type { Logger } from './logger.js';
import { type ReconnectPolicy, withReconnect } from './reconnect.js';

/**
 * Start-up checks against gRPC services (Pub/Sub). The client library retries an unreachable
 * service for a minute on its own and then reports every attempt in one message (a 4 KB line
 * repeating one error); Herald's reconnect policy decides the retries instead, so each check is
 * one bounded call and its failure is described once.
 */

/** How long one check waits for an answer before the service counts as unreachable. */
export const GRPC_CHECK_TIMEOUT_MS = 5_000;

/** Per-call options that turn off the client library's own retries (google-gax's CallOptions). */
const SINGLE_BOUNDED_CALL = { timeout: GRPC_CHECK_TIMEOUT_MS, maxRetries: 0 } as const;

const GRPC_CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** True when no answer came: the service is down, unreachable, or did not answer in time. */
export function isUnreachableGrpcError(err: unknown): boolean {
  const code = grpcCode(err);
  return code === 14 || code === 4 || code === 1 || code === undefined;
}

/**
 * Whether a resource exists, from one metadata call: NOT_FOUND means it does not; any other
 * error is thrown for the caller's reconnect policy to judge.
 */
async function existsByMetadata(getMetadata: () => Promise<unknown>): Promise<boolean> {
  try {
    await getMetadata();
    return true;
  } catch (err) {
    if (grpcCode(err) === 5) return false;
    throw err;
  }
}

/** One line for a gRPC failure: its code name and the first line of its details, bounded. */
function describeGrpcError(err: unknown): string {
  const code = grpcCode(err);
  const name = code === undefined ? '' : `${GRPC_CODE_NAMES[code] ?? `code ${code}`}: `;
  const details = (err as { details?: unknown }).details;
  const text = typeof details === 'string' && details !== '' ? details : String((err as Error).message ?? err);
  // The client library wraps the error that stopped it ("… retrying error Error: 14 UNAVAILABLE:
  // No connection established …"): that inner error is the one worth reading.
  const inner = /retrying error (?:Error: )?\d+ ([A-Z_]+): (.*?)(?:\s*Resolution note:|$)/.exec(
    text.split('\n')[0] ?? '',
  );
  const line = inner ? `${inner[1]}: ${inner[2]}` : `${name}${text.split('\n')[0] ?? ''}`;
  return line.length > 240 ? `${line.slice(0, 239)}…` : line;
}

/**
 * The one-line start-up failure for Pub/Sub: where it was looked for, how often, and why not.
 * @param reconnectAttempts the retries after the first try (FlyteAdmin's `reconnectAttempts`).
 */
function unreachablePubSub(err: unknown, reconnectAttempts = 0): string {
  const where = process.env.PUBSUB_EMULATOR_HOST
    ? `the Pub/Sub emulator at ${process.env.PUBSUB_EMULATOR_HOST}`
    : 'Pub/Sub';
  const tries = Math.max(1, reconnectAttempts + 1);
  if (!isUnreachableGrpcError(err)) return `Pub/Sub refused the start-up check: ${describeGrpcError(err)}`;
  return `cannot reach ${where} (${tries} ${tries === 1 ? 'try' : 'tries'}, reconnectAttempts ${reconnectAttempts}): ${describeGrpcError(err)}`;
}

/**
 * Whether a Pub/Sub topic or subscription exists, asked with one bounded call per try under
 * FlyteAdmin's reconnect policy.
 * @param getMetadata the resource's `getMetadata`, given the per-call options.
 * @throws HeraldError in one line when Pub/Sub cannot be reached or refuses the check.
 */
export async function pubSubResourceExists(
  getMetadata: (callOptions: typeof SINGLE_BOUNDED_CALL) => Promise<unknown>,
  policy: ReconnectPolicy,
  logger: Logger,
): Promise<boolean> {
  try {
    return await withReconnect('Pub/Sub', policy, logger, isUnreachableGrpcError, () =>
      existsByMetadata(() => getMetadata(SINGLE_BOUNDED_CALL)),
    );
  } catch (err) {
    throw new HeraldError(unreachablePubSub(err, policy.attempts ?? 0), { cause: err });
  }
}
