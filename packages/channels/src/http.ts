import { DeliveryError } from '@herald/core';
import type { PreparedRequest } from './channel.js';

/** Answers a service documents as "slow down" or "try later", besides 429 and 5xx. */
export interface ClassifyOptions {
  /** Status codes other than 429 and 5xx that are worth retrying. */
  retryableStatuses?: readonly number[];
}

/**
 * Makes a prepared request and classifies the answer — the one place every HTTP channel's
 * retry decision is made: 2xx is success; 429 is retried after Retry-After; 5xx, timeouts and
 * network errors are retried; any other status is permanent, with the body as the reason.
 * @returns the response body and headers of a 2xx answer.
 */
export async function sendHttp(
  provider: string,
  request: PreparedRequest,
  signal: AbortSignal | undefined,
  options: ClassifyOptions = {},
): Promise<{ status: number; body: string; headers: Headers }> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
    });
  } catch (err) {
    const name = (err as Error).name;
    const reason =
      name === 'AbortError' || name === 'TimeoutError'
        ? 'aborted (timeout or shutdown)'
        : `request failed: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`;
    throw new DeliveryError(provider, reason, { retryable: true, cause: err });
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

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
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
