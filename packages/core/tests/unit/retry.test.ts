import { backoffDelayMs, isAbortError, parseRetryAfterMs } from '@herald/core/runtime';
import { describe, expect, it } from 'vitest';

describe('backoffDelayMs', () => {
  const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };

  it('doubles per attempt, with half of it random', () => {
    expect([1, 2, 3].map((a) => backoffDelayMs(policy, a, 0, () => 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((a) => backoffDelayMs(policy, a, 0, () => 1))).toEqual([1000, 2000, 4000]);
  });

  it('never exceeds the maximum', () => {
    expect(backoffDelayMs(policy, 30, 0, () => 1)).toBe(60_000);
  });

  it("waits at least as long as the server's Retry-After, up to the maximum", () => {
    expect(backoffDelayMs(policy, 1, 7_000, () => 0)).toBe(7_000);
    expect(backoffDelayMs(policy, 1, 600_000, () => 0)).toBe(60_000);
  });
});

describe('parseRetryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delay-seconds as milliseconds', () => {
    expect(parseRetryAfterMs('7', now)).toBe(7_000);
    expect(parseRetryAfterMs('0.5', now)).toBe(500);
  });

  it('reads an HTTP date as the time left until it', () => {
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
  });

  it('never returns a negative wait', () => {
    expect(parseRetryAfterMs('-5', now)).toBe(0);
    expect(parseRetryAfterMs('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
  });

  it('returns undefined for a missing or unreadable value, so the caller can fall back', () => {
    expect(parseRetryAfterMs(null, now)).toBeUndefined();
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs('', now)).toBeUndefined();
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('isAbortError', () => {
  it('is true for an aborted signal, whether by shutdown or by a timeout', async () => {
    const shutdown = new AbortController();
    shutdown.abort();
    expect(isAbortError(await fetch('http://127.0.0.1:9', { signal: shutdown.signal }).catch((e) => e))).toBe(true);
    expect(isAbortError(new DOMException('timed out', 'TimeoutError'))).toBe(true);
    expect(isAbortError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe(true);
  });

  it('is false for other failures and for values that are not errors', () => {
    expect(isAbortError(new TypeError('fetch failed'))).toBe(false);
    expect(isAbortError(Object.assign(new Error('slow'), { name: 'ThrottlingException' }))).toBe(false);
    expect(isAbortError(undefined)).toBe(false);
    expect(isAbortError('AbortError')).toBe(false);
  });
});
