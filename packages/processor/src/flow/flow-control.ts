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
  private slotWaiters: SlotWaiter[] = [];
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

  /**
   * Waits until at least `min` slots are free, then reserves as many as are free, up to `max`,
   * and resolves with that number (0 when `signal` aborts first). Waiters are served in arrival
   * order and the reservation is made as the waiter is woken, so two receives never count on
   * the same free slots.
   */
  async reserveSlots(min: number, max: number, signal: AbortSignal): Promise<number> {
    if (signal.aborted) return 0;
    const needed = Math.max(1, Math.min(min, max, this.capacity));
    if (this.slotWaiters.length === 0 && this.available >= needed) return this.take(max);
    return new Promise<number>((resolve) => {
      const waiter: SlotWaiter = {
        needed,
        max,
        wake: (slots) => {
          signal.removeEventListener('abort', abort);
          resolve(slots);
        },
      };
      const abort = () => {
        this.slotWaiters = this.slotWaiters.filter((w) => w !== waiter);
        resolve(0);
        // The waiter behind this one may fit in what this one was waiting for.
        this.wakeWaiters();
      };
      this.slotWaiters.push(waiter);
      signal.addEventListener('abort', abort, { once: true });
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
    this.wakeWaiters();
  }

  /** One message is done: its slot is free again. */
  release(): void {
    this.count--;
    this.wakeWaiters();
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

  private take(max: number): number {
    const slots = Math.min(this.available, max);
    this.reserved += slots;
    return slots;
  }

  /** Serves, in order, the waiters whose slots are free; the first that does not fit stops the round. */
  private wakeWaiters(): void {
    while (this.slotWaiters.length > 0) {
      const first = this.slotWaiters[0] as SlotWaiter;
      if (first.needed > this.available) return;
      this.slotWaiters.shift();
      first.wake(this.take(first.max));
    }
  }
}

interface SlotWaiter {
  needed: number;
  max: number;
  wake: (slots: number) => void;
}
