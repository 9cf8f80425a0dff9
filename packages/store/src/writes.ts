/**
 * The store's hot path: the three writes every delivery makes (claim, settle, keep its
 * message), a batch of them at a time. Each backend runs them its fastest way (`writes-sqlite.ts`:
 * prepared statements in one synchronous transaction; `writes-postgres.ts`: one prepared,
 * set-based statement per batch), and both decide with the same SQL, written once here, so a
 * claim means the same thing in either.
 */
import type { DeliveryIdentity, DigestJoin, FoldResult } from './types.js';

/** One delivery's key in the store's maps: its event and destination. */
export const keyOf = (eventId: string, destination: string) => `${eventId}\u0000${destination}`;

/** One claim in a batch. */
export interface ClaimRequest {
  delivery: DeliveryIdentity;
  leaseMs: number;
}

/** What the database answered for one claim. */
export type ClaimResult =
  | { kind: 'claimed'; attempt: number }
  | { kind: 'settled' }
  /** `leaseUntil` and `now` by the database's clock; undefined when the row is not visible yet. */
  | { kind: 'busy'; leaseUntil?: number | undefined; now?: number | undefined };

/** One settlement: the status it moves the delivery to, and what the attempt records. */
export interface Settlement {
  eventId: string;
  destination: string;
  /** The attempt this store claimed, which fences the release of a lease; null when not known here. */
  attempt: number | null;
  status: 'delivered' | 'retrying' | 'dead-lettered';
  error: string | null;
  providerMessageId: string | null;
  subject: string | null;
}

/** One kept message, as stored. */
export interface KeptRow {
  event_id: string;
  body: string;
  encoding: 'utf8' | 'base64';
  attributes: string;
}

/** The writes of one batch. */
export interface WriteBatch {
  /** At most one per event; an event's first kept message stays. */
  kept: readonly KeptRow[];
  /** In call order; one delivery may be settled more than once, applied in turn. */
  settlements: readonly Settlement[];
  /** Distinct deliveries, sorted by key. */
  claims: readonly ClaimRequest[];
}

export interface DeliveryWrites {
  /**
   * Keeps, settles and claims; one claim result per claim, in order. A delivery settled and
   * claimed in one batch may answer either `settled` or `busy`: both are safe.
   */
  write(batch: WriteBatch): Promise<ClaimResult[]>;
  /**
   * Folds claimed deliveries into their digests (see `DeliveryStore.fold`), one result each, in
   * order: SQLite in one transaction, PostgreSQL a statement or two each.
   */
  fold(requests: readonly FoldRequest[]): Promise<FoldResult[]>;
  /** Statements or transactions sent so far. */
  readonly calls: number;
  /** Releases what the hot path holds of its own (PostgreSQL: its connections). */
  close(): Promise<void>;
}

/** Statuses a delivery keeps: a claim answers `settled` (only `herald redeliver` reopens them). */
export const SETTLED_STATUSES = ['delivered', 'dead-lettered', 'silenced', 'folded', 'suppressed'] as const;

/** The same, as SQL: `status in ${SETTLED}`. */
export const SETTLED = `(${SETTLED_STATUSES.map((status) => `'${status}'`).join(', ')})`;

export function isSettled(status: string | null | undefined): boolean {
  return (SETTLED_STATUSES as readonly (string | null | undefined)[]).includes(status);
}

/**
 * The claim's decision, after `insert into deliveries … values …`: a new row is claimed; an
 * existing one is taken over (one more attempt, a new lease) only when it is not settled and
 * has no live lease. `excluded.last_attempt_at` is the statement's now.
 */
export const CLAIM_ON_CONFLICT = `on conflict (event_id, destination) do update set
    attempts = deliveries.attempts + 1,
    label = excluded.label,
    last_attempt_at = excluded.last_attempt_at,
    updated_at = excluded.updated_at,
    lease_owner = excluded.lease_owner,
    lease_until = excluded.lease_until
  where deliveries.status not in ${SETTLED}
    and (deliveries.lease_until is null or deliveries.lease_until <= excluded.last_attempt_at)`;

/** The columns a claim inserts, in the order of its values. */
export const CLAIM_COLUMNS = `event_id, destination, label, project, domain, name, phase,
  status, attempts, first_attempt_at, last_attempt_at, updated_at, lease_owner, lease_until`;

/** Where a settlement statement reads each field of the settlement: a column, or a parameter. */
export interface SettlementFields {
  eventId: string;
  destination: string;
  attempt: string;
  status: string;
  error: string;
  providerMessageId: string;
  subject: string;
}

/**
 * Settles a delivery. delivered: always (it was sent). dead-lettered: unless delivered.
 * retrying: only the attempt this store claimed (or, not known here, a delivery no one else
 * holds), so a sender whose lease expired cannot release the lease of the replica that took
 * over. `from` names the relation the fields are read from, if any.
 */
export function settleDeliveries(s: SettlementFields, owner: string, now: string, from = ''): string {
  return `update deliveries set
      status = ${s.status},
      last_error = coalesce(${s.error}, deliveries.last_error),
      provider_message_id = coalesce(${s.providerMessageId}, deliveries.provider_message_id),
      subject = coalesce(${s.subject}, deliveries.subject),
      lease_owner = null,
      lease_until = null,
      updated_at = ${now}
    ${from}
    where deliveries.event_id = ${s.eventId} and deliveries.destination = ${s.destination} and (
      ${s.status} = 'delivered'
      or (${s.status} = 'dead-lettered' and deliveries.status <> 'delivered')
      or (${s.status} = 'retrying' and deliveries.status not in ${SETTLED} and (
        deliveries.attempts = ${s.attempt}
        or (${s.attempt} is null and (deliveries.lease_owner is null or deliveries.lease_owner = ${owner})))))`;
}

/** The attempt a settlement ends: its outcome, when, and what the provider said. */
export function settleAttempts(s: SettlementFields, now: string, from = ''): string {
  return `update attempts set
      outcome = case ${s.status} when 'retrying' then 'failed' else ${s.status} end,
      finished_at = ${now},
      error = ${s.error},
      provider_message_id = ${s.providerMessageId}
    ${from}
    where attempts.event_id = ${s.eventId} and attempts.destination = ${s.destination}
      and attempts.attempt = ${s.attempt} and attempts.outcome = 'started'`;
}

/** One delivery to fold, with the id a digest it opens would get. */
export interface FoldRequest {
  eventId: string;
  destination: string;
  label: string;
  join: DigestJoin;
  newDigestId: string;
}

/** How often a fold tries again when the open digest it found closed before it could join. */
export const FOLD_TRIES = 5;

/** The digest a fold opens is due at its window's end, or at once when its first member fills it. */
export function initialMembers(join: DigestJoin): number {
  return join.immediateFirst ? 0 : 1;
}
