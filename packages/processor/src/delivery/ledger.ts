import type { DigestJoin, ExecutionWatch, FoldResult, OnceKey, OnceResult, RateToken } from '@herald/store';

/**
 * What {@link DeliveryLedger.begin} found. A `busy` answer from a ledger with leases says how
 * long the holder's lease has left: by then the delivery is free again at the latest (the
 * holder may be a replica that died mid-send).
 */
export type LedgerClaim = { outcome: 'claimed' | 'settled' } | { outcome: 'busy'; leaseLeftMs?: number | undefined };

/** One delivery as the ledger records it: whose, where to, and what about. */
export interface LedgerEntry {
  /** The message's id: its event's, or for an email that arrived rendered, one from its publish. */
  readonly eventId: string;
  /** The destination's key within the message (`email:default:ab12…`, `channel:oncall`). */
  readonly destination: string;
  /** The destination as a person reads it: `email to a@example.com`, `slack 'oncall'`. */
  readonly label: string;
  readonly execution?: { project: string; domain: string; name: string } | undefined;
  readonly phase?: string | undefined;
}

/** Which delivery: the message's id and the destination's key. */
export type LedgerKey = Pick<LedgerEntry, 'eventId' | 'destination'>;

/**
 * Remembers which (event, destination) deliveries are settled — sent, or dead-lettered — and
 * which are being attempted right now, so neither a redelivered message nor two copies of it
 * handled at the same time email the same people twice. With a store behind it, that holds
 * across restarts and across replicas, and it is the delivery log operators read.
 */
export interface DeliveryLedger {
  /**
   * `claimed`: go ahead, then record how it went. `settled`: already done. `busy`: someone is
   * attempting it now (another copy, another replica); try again later.
   */
  begin(entry: LedgerEntry): Promise<LedgerClaim>;
  /** The claimed delivery went out. */
  delivered(
    key: LedgerKey,
    info: { providerMessageId?: string | undefined; subject?: string | undefined },
  ): Promise<void>;
  /** The claimed delivery failed and will be retried: the claim is released. */
  failed(key: LedgerKey, error: string): Promise<void>;
  /** The claimed delivery was dead-lettered: settled, never attempted again. */
  deadLettered(key: LedgerKey, reason: string): Promise<void>;
  /** A message that could not be read at all, for the log. */
  undecodable(record: { messageId: string; reason: string; source: string }): Promise<void>;
  /**
   * A delivery a silence muted: logged `silenced` with the silence's id, and settled (never
   * sent; `herald redeliver` reopens it). Only a ledger with a store has silences.
   */
  silenced?(entry: LedgerEntry, silenceId: string): Promise<void>;
  /**
   * Folds a delivery this ledger just claimed into its digest (see `DeliveryStore.fold`). Only
   * a ledger with a store holds digests; the config refuses digests without one.
   */
  fold?(entry: LedgerEntry, join: DigestJoin): Promise<FoldResult>;
  /** A rule's `oncePer` for a delivery this ledger just claimed (see `DeliveryStore.once`). */
  once?(entry: LedgerEntry, key: OnceKey): Promise<OnceResult>;
  /** A rate limit's token for a destination (see `DeliveryStore.takeToken`). */
  takeToken?(destination: string, max: number, perMs: number): Promise<RateToken>;
  /** Starts or stops a rule's `expect` watch of an execution (see `DeliveryStore.watchExecution`). */
  watchExecution?(watch: ExecutionWatch, ended: boolean): Promise<void>;
  /**
   * Keeps the message an event arrived in, so `herald redeliver` can send it again; a ledger
   * without a store keeps nothing.
   */
  keep(eventId: string, message: { body: string | Uint8Array; attributes: Record<string, string> }): Promise<void>;
}

/**
 * A bounded in-process ledger: it forgets the oldest settled keys beyond `capacity`. It covers
 * redeliveries while the processor runs (retries of a message with one failing destination,
 * duplicates from an at-least-once queue); it does not survive a restart, and it keeps no log.
 */
export class MemoryLedger implements DeliveryLedger {
  private readonly settled = new Set<string>();
  private readonly inProgress = new Set<string>();

  constructor(private readonly capacity: number) {}

  async begin(entry: LedgerEntry): Promise<LedgerClaim> {
    const key = keyOf(entry);
    // No lease here: a claim lives as long as the copy of the message holding it.
    if (this.settled.has(key)) return { outcome: 'settled' };
    if (this.inProgress.has(key)) return { outcome: 'busy' };
    this.inProgress.add(key);
    return { outcome: 'claimed' };
  }

  async delivered(key: LedgerKey): Promise<void> {
    this.settle(keyOf(key));
  }

  async failed(key: LedgerKey): Promise<void> {
    this.inProgress.delete(keyOf(key));
  }

  async deadLettered(key: LedgerKey): Promise<void> {
    this.settle(keyOf(key));
  }

  async undecodable(): Promise<void> {}

  async keep(): Promise<void> {}

  private settle(key: string): void {
    this.inProgress.delete(key);
    if (this.capacity <= 0) return;
    this.settled.add(key);
    if (this.settled.size > this.capacity) {
      const oldest = this.settled.values().next().value;
      if (oldest !== undefined) this.settled.delete(oldest);
    }
  }
}

function keyOf({ eventId, destination }: LedgerKey): string {
  return `${eventId}/${destination}`;
}
