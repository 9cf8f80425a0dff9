/**
 * Bounds how many messages are in flight. The receive loops wait for a free slot before they
 * ask the source for more, so a slow emailer slows receiving instead of growing memory.
 *
 * A receive first reserves the slots it may fill, so concurrent receives never overshoot the
 * capacity; the slots the queue did not fill are returned when the receive ends. Reserved slots
 * are not messages: `inFlight` and `idle()` count only messages being handled.
 */
export class InFlightLimiter {
  private count = 0;
  private reserved = 0;
  private slotWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  /** Messages being handled. */
  get inFlight(): number {
    return this.count;
  }

  /** Slots neither handling a message nor reserved by a receive. */
  get available(): number {
    return this.capacity - this.count - this.reserved;
  }

  /** Resolves when at least one slot is free, or at once when `signal` is aborted. */
  async waitForSlot(signal: AbortSignal): Promise<void> {
    if (this.available > 0 || signal.aborted) return;
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

  /** Reserves `n` slots for a receive that may return up to `n` messages. */
  reserve(n: number): void {
    this.reserved += n;
  }

  /** Ends a reservation of `n` slots of which `used` now hold received messages. */
  fill(n: number, used: number): void {
    this.reserved -= n;
    this.count += used;
    this.wake(n - used);
  }

  /** One message is done: its slot is free again. */
  release(): void {
    this.count--;
    this.wake(1);
    if (this.count === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves when no message is being handled. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wake(slots: number): void {
    for (let i = 0; i < slots; i++) this.slotWaiters.shift()?.();
  }
}
