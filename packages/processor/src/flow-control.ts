/**
 * Bounds how many messages are in flight. The receive loop waits for a free slot before it
 * asks the source for more, so a slow emailer slows receiving instead of growing memory.
 */
export class InFlightLimiter {
  private count = 0;
  private slotWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get inFlight(): number {
    return this.count;
  }

  get available(): number {
    return this.capacity - this.count;
  }

  /** Resolves when at least one slot is free, or at once when `signal` is aborted. */
  async waitForSlot(signal: AbortSignal): Promise<void> {
    if (this.count < this.capacity || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.slotWaiters = this.slotWaiters.filter((w) => w !== done);
        resolve();
      };
      this.slotWaiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Takes `n` slots; callers check {@link available} first. */
  take(n = 1): void {
    this.count += n;
  }

  /** Gives `n` slots back. */
  release(n = 1): void {
    if (n <= 0) return;
    this.count -= n;
    for (let i = 0; i < n; i++) this.slotWaiters.shift()?.();
    if (this.count === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
