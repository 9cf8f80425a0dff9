import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@herald/core';
import { classifySendGridAnswer, classifySmtpError, readSecret } from '@herald/emailer';
import { describe, expect, it } from 'vitest';

describe('SendGrid answer classification', () => {
  const none = new Headers();

  it('honours Retry-After on 429, in seconds or as a date', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    expect(classifySendGridAnswer(429, '', new Headers({ 'retry-after': '7' }), now).retryAfterMs).toBe(7000);
    expect(
      classifySendGridAnswer(429, '', new Headers({ 'retry-after': 'Sun, 22 Nov 2026 10:00:05 GMT' }), now)
        .retryAfterMs,
    ).toBe(5000);
  });

  it('falls back to the rate-limit reset time on 429', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    const reset = String(now / 1000 + 3);
    expect(classifySendGridAnswer(429, '', new Headers({ 'x-ratelimit-reset': reset }), now).retryAfterMs).toBe(3000);
  });

  it('retries 5xx and makes other 4xx permanent', () => {
    expect(classifySendGridAnswer(503, '', none).retryable).toBe(true);
    expect(classifySendGridAnswer(400, '', none).retryable).toBe(false);
    expect(classifySendGridAnswer(401, '', none).retryable).toBe(false);
    expect(classifySendGridAnswer(429, '', none).retryable).toBe(true);
  });

  it("gives SendGrid's own error messages as the reason", () => {
    const body = JSON.stringify({ errors: [{ field: 'personalizations.0.to', message: 'Invalid email' }] });
    expect(classifySendGridAnswer(400, body, none).message).toBe(
      'sendgrid: HTTP 400: personalizations.0.to: Invalid email',
    );
  });
});

describe('SMTP failure classification', () => {
  it('retries 4xx replies and fails 5xx replies for good', () => {
    expect(classifySmtpError(Object.assign(new Error('Greylisted'), { responseCode: 451 })).retryable).toBe(true);
    expect(classifySmtpError(Object.assign(new Error('No such user'), { responseCode: 550 })).retryable).toBe(false);
  });

  it('retries when the server cannot be reached', () => {
    expect(classifySmtpError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ESOCKET' })).retryable).toBe(
      true,
    );
  });
});

describe('readSecret', () => {
  it('reads the environment variable FlyteAdmin names', () => {
    expect(readSecret({ envVar: 'KEY' }, 'x.apiKeyEnvVar', { KEY: 'SG.secret' })).toBe('SG.secret');
  });

  it('reads a file without its trailing newline', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'herald-secret-')), 'key');
    await writeFile(file, 'SG.from-file\n');
    expect(readSecret({ filePath: file }, 'x.apiKeyFilePath', {})).toBe('SG.from-file');
  });

  it('is a config error naming the key, and never shows the secret', () => {
    let error: unknown;
    try {
      readSecret({ envVar: 'MISSING' }, 'notifications.emailer.emailServerConfig.apiKeyEnvVar', {});
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      {
        path: 'notifications.emailer.emailServerConfig.apiKeyEnvVar',
        message: 'environment variable MISSING is not set',
      },
    ]);
  });

  it('names an unreadable file', () => {
    expect(() => readSecret({ filePath: '/nonexistent/key' }, 'k', {})).toThrow(
      /cannot read \/nonexistent\/key: ENOENT/,
    );
  });
});
