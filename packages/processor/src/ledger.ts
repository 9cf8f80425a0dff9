/**
 * Remembers which (event, destination) deliveries are settled — sent, or dead-lettered — so a
 * redelivered message does not email the same people twice.
 */
export interface DeliveryLedger {
  has(key: string): boolean;
  add(key: string): void;
}

/**
 * A bounded in-process ledger: it forgets the oldest keys beyond `capacity`. It covers
 * redeliveries while the processor runs (retries of a message with one failing destination,
 * a queue redelivering after a visibility timeout); it does not survive a restart.
 */
export class MemoryLedger implements DeliveryLedger {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.capacity <= 0) return;
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
  }
}
