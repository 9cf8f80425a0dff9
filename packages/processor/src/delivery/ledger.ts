/** What {@link DeliveryLedger.begin} found. */
export type LedgerClaim = 'claimed' | 'settled' | 'busy';

/**
 * Remembers which (event, destination) deliveries are settled — sent, or dead-lettered — and
 * which are being attempted right now, so neither a redelivered message nor two copies of it
 * handled at the same time email the same people twice.
 */
export interface DeliveryLedger {
  /**
   * `claimed`: go ahead, and call `settle` or `abandon` afterwards. `settled`: already done.
   * `busy`: another copy is attempting it now; try again later.
   */
  begin(key: string): LedgerClaim;
  /** The claimed delivery was sent or dead-lettered. */
  settle(key: string): void;
  /** The claimed delivery failed and will be retried. */
  abandon(key: string): void;
}

/**
 * A bounded in-process ledger: it forgets the oldest settled keys beyond `capacity`. It covers
 * redeliveries while the processor runs (retries of a message with one failing destination,
 * duplicates from an at-least-once queue); it does not survive a restart.
 */
export class MemoryLedger implements DeliveryLedger {
  private readonly settled = new Set<string>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly capacity: number) {}

  begin(key: string): LedgerClaim {
    if (this.settled.has(key)) return 'settled';
    if (this.inProgress.has(key)) return 'busy';
    this.inProgress.add(key);
    return 'claimed';
  }

  settle(key: string): void {
    this.inProgress.delete(key);
    if (this.capacity <= 0) return;
    this.settled.add(key);
    if (this.settled.size > this.capacity) {
      const oldest = this.settled.values().next().value;
      if (oldest !== undefined) this.settled.delete(oldest);
    }
  }

  abandon(key: string): void {
    this.inProgress.delete(key);
  }
}
