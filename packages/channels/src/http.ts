import { DeliveryError, httpUrlProblem } from '@herald/core';
import { isAbortError, parseRetryAfterMs } from '@herald/core/runtime';
import type { PreparedRequest } from './channel.js';

/** Answers a service documents as "slow down" or "try later", besides 429 and 5xx. */
export interface ClassifyOptions {
  /** Status codes other than 429 and 5xx that are worth retrying. */
  retryableStatuses?: readonly number[];
}

/**
 * Makes a prepared request and classifies the answer — the one place every HTTP channel's
 * retry decision is made: 2xx is success; 429 is retried after Retry-After; 5xx, timeouts and
 * network errors are retried; any other status is permanent, with the body as the reason. A
 * request that cannot be made at all (a malformed URL read from a secret, a header value fetch
 * refuses) is permanent too: no retry can fix it. Those reasons never quote the URL or headers,
 * which may hold secrets.
 * @returns the response body and headers of a 2xx answer.
 */
export async function sendHttp(
  provider: string,
  request: PreparedRequest,
  signal: AbortSignal | undefined,
  options: ClassifyOptions = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  const urlProblem = httpUrlProblem(request.url);
  if (urlProblem) {
    throw new DeliveryError(provider, `${urlProblem}, got ${request.urlSource ?? 'the configured URL'} (not shown)`, {
      retryable: false,
    });
  }
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
    });
  } catch (err) {
    if (isAbortError(err)) {
      throw new DeliveryError(provider, 'aborted (timeout or shutdown)', { retryable: true, cause: err });
    }
    // fetch reports a network failure as a TypeError with the socket's error as its cause; a
    // TypeError without one is fetch refusing to build the request, and its message quotes the
    // offending URL or header value. The error is not kept as the cause, so no log shows it.
    const { name, cause } = err as Error & { cause?: { code?: string } };
    if (name === 'TypeError' && cause === undefined) {
      throw new DeliveryError(provider, 'the request cannot be made: fetch refused its URL or headers (not shown)', {
        retryable: false,
      });
    }
    throw new DeliveryError(provider, `request failed: ${cause?.code ?? (err as Error).message}`, {
      retryable: true,
      cause: err,
    });
  }
  const body = await response.text().catch(() => '');
  if (response.ok) return { status: response.status, body, headers: response.headers };
  const reason = `HTTP ${response.status}: ${body.slice(0, 500) || response.statusText}`;
  if (response.status === 429) {
    throw new DeliveryError(provider, reason, { retryable: true, retryAfterMs: retryAfterMs(response.headers) });
  }
  const retryable = response.status >= 500 || (options.retryableStatuses ?? []).includes(response.status);
  throw new DeliveryError(provider, reason, { retryable });
}

/** A response's Retry-After, in seconds or as an HTTP date, in milliseconds from `now`. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  return parseRetryAfterMs(headers.get('retry-after'), now);
}

/** `https://hooks.slack.com/services/T000/B000/XXXX` → `https://hooks.slack.com/***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}/***`;
  } catch {
    return '***';
  }
}
