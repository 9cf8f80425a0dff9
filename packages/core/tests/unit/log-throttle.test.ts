import { createLogThrottle, type Logger } from '@herald/core/runtime';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

interface Line {
  fields: Record<string, unknown>;
  message: string | undefined;
}

function recordingLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const warn = (fields: object, message?: string) => {
    lines.push({ fields: fields as Record<string, unknown>, message });
  };
  return { lines, debug() {}, info() {}, warn, error() {} };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createLogThrottle', () => {
  it('logs the first lines of a key as they come, counts the rest and summarises them when the window ends', () => {
    const logger = recordingLogger();
    const throttle = createLogThrottle(logger, { intervalMs: 10_000, burst: 3 });
    for (let i = 0; i < 4_000; i++) throttle.warn('unauthorized', { i }, 'ingest request refused');
    expect(logger.lines.map((l) => l.fields.i)).toEqual([0, 1, 2]);

    vi.advanceTimersByTime(10_000);
    expect(logger.lines).toHaveLength(4);
    expect(logger.lines[3]).toEqual({
      fields: { suppressed: { unauthorized: 3_997 }, intervalMs: 10_000 },
      message: 'ingest request refused: 3997 more in the last 10 s',
    });
  });

  it('gives every key its own burst, and counts each key in the summary', () => {
    const logger = recordingLogger();
    const throttle = createLogThrottle(logger, { intervalMs: 1_000, burst: 1 });
    for (const key of ['unauthorized', 'unauthorized', 'invalid', 'unauthorized', 'invalid']) {
      throttle.warn(key, { key }, 'refused');
    }
    expect(logger.lines.map((l) => l.fields.key)).toEqual(['unauthorized', 'invalid']);
    vi.advanceTimersByTime(1_000);
    expect(logger.lines[2]?.fields.suppressed).toEqual({ unauthorized: 2, invalid: 1 });
  });

  it('starts a fresh window after one ends, and writes no summary when nothing was left out', () => {
    const logger = recordingLogger();
    const throttle = createLogThrottle(logger, { intervalMs: 1_000, burst: 2 });
    throttle.warn('k', {}, 'm');
    throttle.warn('k', {}, 'm');
    vi.advanceTimersByTime(1_000);
    expect(logger.lines).toHaveLength(2);

    throttle.warn('k', {}, 'm');
    throttle.warn('k', {}, 'm');
    throttle.warn('k', {}, 'm');
    expect(logger.lines).toHaveLength(4);
    vi.advanceTimersByTime(1_000);
    expect(logger.lines.map((l) => l.message)).toEqual(['m', 'm', 'm', 'm', 'm: 1 more in the last 1 s']);
    // Quiet: no timer left behind.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writes what was left out on flush, saying how long the window lasted', () => {
    const logger = recordingLogger();
    const throttle = createLogThrottle(logger, { intervalMs: 60_000, burst: 1 });
    throttle.warn('k', {}, 'm');
    throttle.warn('k', {}, 'm');
    vi.advanceTimersByTime(5_000);
    throttle.flush();
    expect(logger.lines.at(-1)?.message).toBe('m: 1 more in the last 5 s');
    expect(vi.getTimerCount()).toBe(0);
    throttle.flush();
    expect(logger.lines).toHaveLength(2);
  });
});
