import { describe, expect, it } from 'vitest';
import { AttemptSignals, DeliveryTimeoutError } from '../../src/delivery/attempt-signals.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with how long after `from` the signal was aborted. */
function abortedAfter(signal: AbortSignal, from: number): Promise<number> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(performance.now() - from)));
}

describe('AttemptSignals', () => {
  it('gives attempts that start together one signal, and later ones another', async () => {
    const signals = new AttemptSignals(200, new AbortController().signal);
    const first = signals.next();
    expect(signals.next()).toBe(first);
    await sleep(30); // past a slice (a twentieth of the timeout)
    expect(signals.next()).not.toBe(first);
  });

  it('aborts an attempt with the timeout as reason, never before the timeout', async () => {
    const signals = new AttemptSignals(200, new AbortController().signal);
    const started = performance.now();
    const signal = signals.next();
    const after = await abortedAfter(signal, started);
    expect(after).toBeGreaterThanOrEqual(199);
    expect(signal.reason).toBeInstanceOf(DeliveryTimeoutError);
    expect((signal.reason as Error).message).toBe('delivery timed out after 200 ms');
  });

  it('gives an attempt starting at the end of a slice the whole timeout too', async () => {
    const signals = new AttemptSignals(200, new AbortController().signal);
    signals.next();
    await sleep(8); // still within the first slice of 10 ms
    const started = performance.now();
    const signal = signals.next();
    expect(await abortedAfter(signal, started)).toBeGreaterThanOrEqual(199);
  });

  it('aborts every running attempt when shutdown ends, with shutdown as reason, and then signals aborted at once', async () => {
    const shutdown = new AbortController();
    const signals = new AttemptSignals(60_000, shutdown.signal);
    const early = signals.next();
    await sleep(5);
    const late = signals.next();
    shutdown.abort(new Error('grace period over'));
    expect(early.aborted && late.aborted).toBe(true);
    expect((late.reason as Error).message).toBe('grace period over');
    expect(signals.next().aborted).toBe(true);
  });

  it('lets every attempt of a slice listen without a listener-leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const signals = new AttemptSignals(60_000, new AbortController().signal);
      const signal = signals.next();
      for (let i = 0; i < 200; i++) signal.addEventListener('abort', () => {});
      await sleep(10);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps no process alive with its timers', () => {
    const signals = new AttemptSignals(60_000, new AbortController().signal);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    signals.next();
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});
