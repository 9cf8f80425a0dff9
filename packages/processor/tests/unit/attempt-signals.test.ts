import { describe, expect, it } from 'vitest';
import { AttemptSignals, attemptSignal, DeliveryTimeoutError } from '../../src/delivery/attempt-signals.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with how long after `from` the signal was aborted. */
function abortedAfter(signal: AbortSignal, from: number): Promise<number> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(performance.now() - from)));
}

/** Collects the warnings the process emits while `run` runs. */
async function warningsDuring(run: () => Promise<void>): Promise<Error[]> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    await run();
    await sleep(10);
  } finally {
    process.off('warning', onWarning);
  }
  return warnings;
}

describe('AttemptSignals', () => {
  it('gives attempts that start together one signal, and later ones another', async () => {
    // A timeout of 2 s makes slices of 100 ms.
    const signals = new AttemptSignals(2_000, new AbortController().signal);
    const first = signals.next();
    expect(signals.next()).toBe(first);
    await sleep(120);
    expect(signals.next()).not.toBe(first);
  });

  it('aborts an attempt with the timeout as reason, never before the timeout', async () => {
    const signals = new AttemptSignals(200, new AbortController().signal);
    const started = performance.now();
    const signal = signals.next();
    expect(await abortedAfter(signal, started)).toBeGreaterThanOrEqual(199);
    expect(signal.reason).toBeInstanceOf(DeliveryTimeoutError);
    expect((signal.reason as Error).message).toBe('delivery timed out after 200 ms');
  });

  it('gives an attempt starting late in a slice the whole timeout too', async () => {
    const signals = new AttemptSignals(2_000, new AbortController().signal);
    signals.next();
    await sleep(80); // late in the first slice of 100 ms
    const started = performance.now();
    expect(await abortedAfter(signals.next(), started)).toBeGreaterThanOrEqual(1_999);
  });

  it('aborts every running attempt when shutdown ends, with shutdown as reason, and then hands out aborted signals', async () => {
    const shutdown = new AbortController();
    const signals = new AttemptSignals(200, shutdown.signal);
    const early = signals.next();
    await sleep(15); // past a slice of 10 ms
    const late = signals.next();
    expect(late).not.toBe(early);
    shutdown.abort(new Error('grace period over'));
    expect(early.aborted && late.aborted).toBe(true);
    expect((late.reason as Error).message).toBe('grace period over');
    expect(signals.next().aborted).toBe(true);
  });

  it('lets every attempt of a slice, and every one after shutdown, listen without a listener-leak warning', async () => {
    const shutdown = new AbortController();
    const signals = new AttemptSignals(60_000, shutdown.signal);
    const warnings = await warningsDuring(async () => {
      const signal = signals.next();
      for (let i = 0; i < 200; i++) signal.addEventListener('abort', () => {});
      shutdown.abort();
      for (let i = 0; i < 200; i++) signals.next().addEventListener('abort', () => {});
    });
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('keeps the longest timeout a timer can hold, rather than firing at once', async () => {
    let signal: AbortSignal | undefined;
    const warnings = await warningsDuring(async () => {
      signal = new AttemptSignals(2 ** 31 - 1, new AbortController().signal).next();
      await sleep(20);
    });
    expect(signal?.aborted).toBe(false);
    expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
  });

  it('keeps no process alive with its timers', () => {
    const signals = new AttemptSignals(60_000, new AbortController().signal);
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    signals.next();
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});

describe('attemptSignal (a code rule’s own signal)', () => {
  it('is aborted, with the same reason, when the shared signal aborts while the work runs', async () => {
    const shared = new AbortController();
    const reason = await attemptSignal(shared.signal, async (own) => {
      const aborted = new Promise((resolve) => own.addEventListener('abort', () => resolve(own.reason)));
      shared.abort(new DeliveryTimeoutError(100));
      return aborted;
    });
    expect((reason as Error).message).toBe('delivery timed out after 100 ms');
  });

  it('is left alone once the work is done, and its onabort never touches the shared signal', async () => {
    const shared = new AbortController();
    let own: AbortSignal | undefined;
    let fired = false;
    await attemptSignal(shared.signal, async (signal) => {
      own = signal;
      signal.onabort = () => {
        fired = true;
      };
    });
    expect(shared.signal.onabort).toBeNull();
    shared.abort();
    expect(own?.aborted).toBe(false);
    expect(fired).toBe(false);
  });

  it('starts aborted when the shared signal already is', async () => {
    const shared = new AbortController();
    shared.abort(new Error('shutdown'));
    expect(await attemptSignal(shared.signal, async (own) => own.aborted)).toBe(true);
  });
});
