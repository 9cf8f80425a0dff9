import { setMaxListeners } from 'node:events';

/** The reason a delivery's signal is aborted with when it runs out of time. */
export class DeliveryTimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(ms: number) {
    super(`delivery timed out after ${ms} ms`);
  }
}

/** The longest slice of time whose attempts share one signal. */
const MAX_SLICE_MS = 1_000;
/** The longest delay a Node timer keeps; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Slice {
  controller: AbortController;
  /** Attempts starting before this (performance.now()) get this slice's signal. */
  openUntil: number;
  timer: NodeJS.Timeout;
}

/**
 * The signals delivery attempts are cancelled by: each is aborted once its attempt has run for
 * the delivery timeout, or when shutdown's grace period ends.
 *
 * Attempts that start within the same slice of time (a twentieth of the timeout, at most a
 * second) share one signal, aborted when the last of them could have reached the timeout: every
 * attempt gets at least the timeout, and at most one slice more. A signal and a timer of its own
 * for every attempt were a tenth of the processor's own CPU per message, and garbage for the
 * collector on every delivery.
 *
 * A shared signal is aborted when its slice ends even if all of its attempts are done, and
 * listeners left on it stay until then: Herald's own senders remove theirs (or check `aborted`
 * only). Code written by users gets a signal of its own ({@link attemptSignal}).
 */
export class AttemptSignals {
  private readonly sliceMs: number;
  private current: Slice | undefined;
  /** Slices whose timer has not fired yet: their attempts may still be running. */
  private readonly live = new Set<Slice>();

  constructor(
    private readonly timeoutMs: number,
    private readonly shutdown: AbortSignal,
  ) {
    this.sliceMs = Math.max(1, Math.min(MAX_SLICE_MS, Math.floor(timeoutMs / 20)));
    // Attempts starting after shutdown are handed the shutdown signal itself.
    setMaxListeners(0, shutdown);
    shutdown.addEventListener(
      'abort',
      () => {
        for (const slice of this.live) this.end(slice, shutdown.reason);
      },
      { once: true },
    );
  }

  /** The signal for an attempt starting now. */
  next(): AbortSignal {
    if (this.shutdown.aborted) return this.shutdown;
    const now = performance.now();
    if (this.current === undefined || now >= this.current.openUntil) this.current = this.open(now);
    return this.current.controller.signal;
  }

  private open(now: number): Slice {
    const controller = new AbortController();
    // Every attempt of the slice listens (the SDKs do, for each request): many listeners on one
    // signal are expected, not a leak.
    setMaxListeners(0, controller.signal);
    const slice: Slice = {
      controller,
      openUntil: now + this.sliceMs,
      timer: setTimeout(
        () => this.end(slice, new DeliveryTimeoutError(this.timeoutMs)),
        Math.min(MAX_TIMER_MS, this.sliceMs + this.timeoutMs),
      ),
    };
    // An attempt still running keeps the process alive by itself; an expired slice must not.
    slice.timer.unref();
    this.live.add(slice);
    return slice;
  }

  private end(slice: Slice, reason: unknown): void {
    clearTimeout(slice.timer);
    this.live.delete(slice);
    if (this.current === slice) this.current = undefined;
    slice.controller.abort(reason);
  }
}

/**
 * Runs `work` with a signal of its own that follows `shared` only while `work` runs: for code
 * written by users (code rules), which may set `onabort` or leave listeners behind, neither of
 * which may reach the other attempts sharing a signal, nor fire after the attempt is done.
 */
export async function attemptSignal<T>(shared: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const own = new AbortController();
  if (shared.aborted) own.abort(shared.reason);
  const follow = () => own.abort(shared.reason);
  shared.addEventListener('abort', follow, { once: true });
  try {
    return await work(own.signal);
  } finally {
    shared.removeEventListener('abort', follow);
  }
}
