import type { Logger } from '@herald/core/runtime';
import {
  type DeliveryStore,
  type DigestJoin,
  type ExecutionWatch,
  type FoldResult,
  type OnceKey,
  type OnceResult,
  openStore,
  type RateToken,
  type Silence,
} from '@herald/store';
import type { DeliveryLedger, LedgerClaim, LedgerEntry, LedgerKey } from './ledger.js';

/** Where the store is and how long claims and the log last. */
export interface StoreLedgerOptions {
  /** `sqlite:PATH` or `postgres://…` (see `openStore`). */
  url: string;
  /**
   * How long a claim holds a delivery against other replicas. Longer than one attempt may take
   * (render + send), so a live sender never loses its claim; short enough that the deliveries
   * of a replica that died are taken over soon after its messages come back.
   */
  leaseMs: number;
  retentionDays: number;
  logger: Logger;
  /** Who this replica is, in leases and attempts. */
  owner?: string | undefined;
}

/** How often old deliveries are purged from the log. */
const PURGE_EVERY_MS = 60 * 60 * 1000;

/**
 * The delivery ledger kept in a store (SQLite or PostgreSQL): claims are shared by every
 * replica on the store and survive restarts, and every delivery is in the log operators read.
 * Opened by `start` (migrations run then), so a store that cannot be reached stops `herald run`
 * at start-up rather than failing every delivery.
 */
export class StoreLedger implements DeliveryLedger {
  private store: DeliveryStore | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: StoreLedgerOptions) {}

  async start(): Promise<void> {
    this.store ??= await openStore({ url: this.options.url, owner: this.options.owner });
    void this.purge();
    this.purgeTimer = setInterval(() => void this.purge(), PURGE_EVERY_MS);
    this.purgeTimer.unref();
  }

  /** Store round trips so far, for benchmarks and metrics. */
  get roundTrips(): number {
    return this.store?.roundTrips ?? 0;
  }

  begin(entry: LedgerEntry): Promise<LedgerClaim> {
    return this.opened().claim(entry, this.options.leaseMs);
  }

  delivered(
    key: LedgerKey,
    info: { providerMessageId?: string | undefined; subject?: string | undefined },
  ): Promise<void> {
    return this.opened().delivered(key.eventId, key.destination, info);
  }

  failed(key: LedgerKey, error: string): Promise<void> {
    return this.opened().failed(key.eventId, key.destination, error);
  }

  deadLettered(key: LedgerKey, reason: string): Promise<void> {
    return this.opened().deadLettered(key.eventId, key.destination, reason);
  }

  silenced(entry: LedgerEntry, silenceId: string): Promise<void> {
    return this.opened().silenced(entry, silenceId);
  }

  fold(entry: LedgerEntry, join: DigestJoin): Promise<FoldResult> {
    return this.opened().fold(entry, join);
  }

  once(entry: LedgerEntry, key: OnceKey): Promise<OnceResult> {
    return this.opened().once(entry, key);
  }

  takeToken(destination: string, max: number, perMs: number): Promise<RateToken> {
    return this.opened().takeToken(destination, max, perMs);
  }

  watchExecution(watch: ExecutionWatch, ended: boolean): Promise<void> {
    return this.opened().watchExecution(watch, ended);
  }

  /** The store itself, once started: the digest sender reads and closes digests there. */
  opened(): DeliveryStore {
    if (!this.store) throw new Error('the delivery store is not open (StoreLedger.start was not called)');
    return this.store;
  }

  /** The silences in force, for the processor's {@link SilenceWatch}. */
  silences(): Promise<Silence[]> {
    return this.opened().silences();
  }

  undecodable(record: { messageId: string; reason: string; source: string }): Promise<void> {
    return this.opened().undecodable(record);
  }

  keep(eventId: string, message: { body: string | Uint8Array; attributes: Record<string, string> }): Promise<void> {
    return this.opened().keepMessage({ eventId, body: message.body, attributes: { ...message.attributes } });
  }

  async close(): Promise<void> {
    clearInterval(this.purgeTimer);
    const store = this.store;
    this.store = undefined;
    await store?.close();
  }

  /** Retention: in the background, in small batches inside the store, never in a delivery's way. */
  private async purge(): Promise<void> {
    const store = this.store;
    if (!store) return;
    const before = new Date(Date.now() - this.options.retentionDays * 24 * 60 * 60 * 1000);
    try {
      const purged = await store.purge(before);
      if (purged > 0) this.options.logger.info({ purged, before }, 'delivery log purged');
    } catch (err) {
      this.options.logger.warn({ err }, 'could not purge the delivery log; will try again');
    }
  }
}
