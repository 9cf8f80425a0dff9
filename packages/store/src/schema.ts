/** The tables as Kysely sees them. Times are epoch milliseconds (bigint in PostgreSQL, integer in SQLite). */
import type { AttemptOutcome, DeliveryStatus, DigestKind, DigestStatus } from './types.js';

/** Statuses left out of the partial index `deliveries_attention`: those of every delivery that goes well. */
export const ROUTINE_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered'];

/**
 * The condition of `deliveries_attention` (migration 0005), which a query must repeat word for
 * word for either planner to use the index.
 */
export const ATTENTION_STATUSES_SQL = `status not in (${ROUTINE_STATUSES.map((s) => `'${s}'`).join(', ')})`;

export interface DeliveriesTable {
  event_id: string;
  destination: string;
  label: string;
  project: string | null;
  domain: string | null;
  name: string | null;
  phase: string | null;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  provider_message_id: string | null;
  subject: string | null;
  first_attempt_at: number;
  last_attempt_at: number;
  /** Last activity of any kind (claim, settlement, reopen): what retention compares. */
  updated_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  /** The silence that muted it, when its status is `silenced`. */
  silence_id: string | null;
  /** The digest it was folded into (`folded`), or opened and was sent ahead of (immediateFirst). */
  digest_id: string | null;
}

export interface DigestsTable {
  id: string;
  group_key: string;
  kind: DigestKind;
  rule: string;
  destination: string;
  label: string;
  target: string;
  group_values: string;
  window_ms: number;
  max_members: number;
  status: DigestStatus;
  members: number;
  opened_at: number;
  due_at: number;
  closed_at: number | null;
  next_try_at: number | null;
  updated_at: number;
  opener_event_id: string | null;
  opener_event: string | null;
}

export interface DigestEventsTable {
  digest_id: string;
  event_id: string;
  event: string;
  joined_at: number;
}

export interface SilencesTable {
  id: string;
  matchers: string;
  comment: string;
  created_by: string;
  starts_at: number;
  ends_at: number;
}

export interface AttemptsTable {
  event_id: string;
  destination: string;
  attempt: number;
  owner: string;
  started_at: number;
  finished_at: number | null;
  outcome: Exclude<AttemptOutcome, 'abandoned'>;
  error: string | null;
  provider_message_id: string | null;
}

export interface UndecodableTable {
  message_id: string;
  source: string;
  reason: string;
  received_at: number;
}

export interface MessagesTable {
  event_id: string;
  body: string;
  encoding: 'utf8' | 'base64';
  attributes: string;
  kept_at: number;
}

export interface OnceKeysTable {
  once_key: string;
  value: string;
  destination: string;
  event_id: string;
  created_at: number;
}

export interface RateCountersTable {
  destination: string;
  window_start: number;
  count: number;
}

export interface Database {
  messages: MessagesTable;
  deliveries: DeliveriesTable;
  attempts: AttemptsTable;
  undecodable: UndecodableTable;
  silences: SilencesTable;
  digests: DigestsTable;
  digest_events: DigestEventsTable;
  once_keys: OnceKeysTable;
  rate_counters: RateCountersTable;
}
