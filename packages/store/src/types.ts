/**
 * What the delivery store remembers and answers: the claims that keep replicas from sending a
 * destination twice, and the delivery log operators read. Implemented once, over Kysely, for
 * SQLite and PostgreSQL (`store.ts`).
 */

/**
 * One (event, destination) about to be sent. Everything but the two ids is for the log: the
 * ids are the idempotency key, the rest is what an operator searches and reads.
 */
export interface DeliveryIdentity {
  eventId: string;
  /** The pipeline's destination key (`email:default:ab12cd`, `channel:oncall`): stable, unique per event. */
  destination: string;
  /** The destination as a person reads it (`email to a@x.com, b@y.com`, `slack 'oncall'`): keys hash addresses. */
  label: string;
  /** The Flyte execution the event is about, so the log answers "was the on-call told about f8a1b2c3?". */
  execution?: { project: string; domain: string; name: string } | undefined;
  /** The execution's phase the event reports (`FAILED`, …). */
  phase?: string | undefined;
}

/**
 * What {@link DeliveryStore.claim} found. `claimed`: send it, then settle it (`delivered`,
 * `failed` or `deadLettered`). `settled`: delivered or dead-lettered already, skip it.
 * `busy`: someone holds a live lease on it, come back later.
 */
export type ClaimOutcome = 'claimed' | 'settled' | 'busy';

/** A claim's answer; a `busy` one says how long the holder's lease has left. */
export type Claim =
  | { outcome: 'claimed' | 'settled' }
  | {
      outcome: 'busy';
      /**
       * Until the holder's lease ends, by the database's clock: the delivery is free to be
       * attempted again by then at the latest (sooner, if the holder settles it).
       */
      leaseLeftMs: number;
    };

/**
 * Where a delivery stands. `pending`: claimed and not yet settled (being sent, or its sender
 * died and its lease will expire). `retrying`: an attempt failed transiently and it will be
 * attempted again. `delivered` and `dead-lettered` are final: a claim answers `settled`.
 */
export type DeliveryStatus =
  | 'pending'
  | 'delivered'
  | 'retrying'
  | 'dead-lettered'
  | 'silenced'
  | 'folded'
  | 'suppressed';

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  'pending',
  'delivered',
  'retrying',
  'dead-lettered',
  'silenced',
  'folded',
  'suppressed',
];

/**
 * What a digest is. `digest`: a rule's window of notifications. `overdue`: a rule's `expect`
 * watching one execution. `ratelimit`: the notifications a destination's rate limit held back
 * in one period, sent when it ends.
 */
export type DigestKind = 'digest' | 'overdue' | 'ratelimit';

/**
 * Where a digest stands. `open`: events join it until its window ends. `closed`: due, being
 * sent (or retried after a failed send). `sent`, `empty` (immediateFirst, and nothing joined
 * after the first) and `dead-lettered` are final.
 */
export type DigestStatus = 'open' | 'closed' | 'sent' | 'empty' | 'dead-lettered' | 'met';

export const DIGEST_STATUSES: readonly DigestStatus[] = ['open', 'closed', 'sent', 'empty', 'dead-lettered', 'met'];

/**
 * A rule's `expect` for one execution and destination: opened when the execution reaches the
 * rule's `after` phase (due `withinMs` later), met when it ends. Kept as a digest of kind
 * `overdue` whose one event is the one that opened it, so it is sent like a digest (once, by
 * one replica, retried) if it falls due.
 */
export interface ExecutionWatch {
  /** Rule, destination and execution: one watch each. */
  groupKey: string;
  rule: string;
  destination: string;
  label: string;
  target: string;
  group: Record<string, string>;
  withinMs: number;
  /** The event (JSON) that opened it; the alert renders from it. */
  event: string;
}

/** What a destination's digest is and how it collects events: see {@link DeliveryStore.fold}. */
export interface DigestJoin {
  /** Events with equal keys join one open digest: the rule, the destination and the groupBy values. */
  groupKey: string;
  /** @defaultValue `digest` */
  kind?: DigestKind | undefined;
  rule: string;
  /** The destination as routing made it (JSON), to send the digest from. */
  target: string;
  /** The groupBy values, for the digest's template. */
  group: Record<string, string>;
  windowMs: number;
  /** Events that fill it: the one that does makes it due at once. */
  max: number;
  immediateFirst: boolean;
  /** The event (JSON), for the digest's template. */
  event: string;
}

/**
 * What folding a delivery did. `held`: it joined (or opened) a digest and is settled `folded`.
 * `first`: it opened a digest with immediateFirst, and is to be sent now under its claim.
 */
export interface FoldResult {
  digestId: string;
  role: 'first' | 'held';
}

/** A send-once key: a hash of the rule, the destination and the value, and the value itself. */
export interface OnceKey {
  key: string;
  value: string;
}

/** What {@link DeliveryStore.once} found: send, or it was sent for another event. */
export type OnceResult = { first: true } | { first: false; sentFor: string };

/** What {@link DeliveryStore.takeToken} found. */
export type RateToken = { allowed: true } | { allowed: false; periodLeftMs: number };

/** One digest, for the sender and `herald digests list`. */
export interface DigestRow {
  id: string;
  kind: DigestKind;
  /** Its group's key (see {@link DigestJoin.groupKey}): every digest of one group has it. */
  groupKey: string;
  rule: string;
  /** The destination's key, and as the log shows it. */
  destination: string;
  label: string;
  group: Record<string, string>;
  windowMs: number;
  status: DigestStatus;
  /** Events held in it (the immediateFirst event is not among them). */
  members: number;
  openedAt: Date;
  dueAt: Date;
  closedAt: Date | null;
  /** The event sent at once when it opened (immediateFirst). */
  openerEventId: string | null;
}

/** A digest with what its message is made of. */
export interface DigestContents extends DigestRow {
  /** The destination as routing made it (JSON). */
  target: string;
  /** The held events (JSON), oldest first. */
  events: { eventId: string; event: string; joinedAt: Date }[];
  /** The immediateFirst event (JSON). */
  openerEvent: string | null;
}

/** Filters of {@link DeliveryStore.digests}. */
export interface DigestFilter {
  status?: DigestStatus | undefined;
  /** At most this many, newest first; default 100. */
  limit?: number | undefined;
}

/** One condition of a silence: the event's `field` matches the glob `pattern` (`compileGlob` in @herald/core/config). */
export interface SilenceMatcher {
  field: SilenceField;
  pattern: string;
}

/** What a silence can match on. `destination`: a channel's name or an email address, as the log shows it. */
export type SilenceField = 'project' | 'domain' | 'workflow' | 'execution' | 'phase' | 'destination';

export const SILENCE_FIELDS: readonly SilenceField[] = [
  'project',
  'domain',
  'workflow',
  'execution',
  'phase',
  'destination',
];

/** A silence: deliveries whose event and destination match every matcher are not sent while it lasts. */
export interface Silence {
  id: string;
  matchers: SilenceMatcher[];
  comment: string;
  createdBy: string;
  startsAt: Date;
  /** When it ends (or ended: `herald silences expire` ends it now). */
  endsAt: Date;
}

/** One (event, destination) in the delivery log. Times are JavaScript dates (stored as epoch milliseconds). */
export interface DeliveryRow {
  eventId: string;
  destination: string;
  label: string;
  project: string | null;
  domain: string | null;
  name: string | null;
  phase: string | null;
  status: DeliveryStatus;
  /** Claims taken so far: each claim is one attempt, including one whose sender died mid-send. */
  attempts: number;
  lastError: string | null;
  providerMessageId: string | null;
  /** The rendered subject of an email delivery. */
  subject: string | null;
  firstAttemptAt: Date;
  lastAttemptAt: Date;
  /** Who holds the lease (`host:pid:random`), while an attempt is under way. */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  /** The silence that muted it, when `silenced`. */
  silenceId: string | null;
  /** The digest it was folded into (`folded`), or opened (immediateFirst: sent on its own). */
  digestId: string | null;
}

/**
 * How one attempt ended. `started`: still under way (or its sender died and no later attempt
 * took over yet); `abandoned`: its sender never settled it and a later claim took over after
 * the lease expired — a send that may or may not have reached the destination.
 */
export type AttemptOutcome =
  | 'started'
  | 'delivered'
  | 'failed'
  | 'dead-lettered'
  | 'folded'
  | 'suppressed'
  | 'abandoned';

/** One attempt of one delivery, for `herald deliveries show`. */
export interface AttemptRow {
  eventId: string;
  destination: string;
  /** 1 for the first claim of the delivery, then 2, … */
  attempt: number;
  /** The replica that made it. */
  owner: string;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: AttemptOutcome;
  error: string | null;
  providerMessageId: string | null;
}

/** Filters of {@link DeliveryStore.list}; all optional, combined with AND. */
export interface DeliveryFilter {
  /** An execution's name (`f8a1b2c3`), or `project/domain/name`. */
  execution?: string | undefined;
  eventId?: string | undefined;
  /** The deliveries folded into (or that opened) one digest. */
  digestId?: string | undefined;
  status?: DeliveryStatus | undefined;
  /** A substring of the readable label or of the key, case-insensitive (`oncall`, `a@x.com`). */
  destination?: string | undefined;
  /** Last attempt at or after. */
  since?: Date | undefined;
  /** Last attempt before. */
  until?: Date | undefined;
  /** At most this many rows, newest first; default 100. */
  limit?: number | undefined;
}

/** A message that could not be read into an event, logged with what the queue called it. */
export interface UndecodableRecord {
  /** The queue's message id. */
  messageId: string;
  reason: string;
  /** The transport it came from (`sqs`, `pubsub`, `memory`). */
  source: string;
}

/** One undecodable message in the log. */
export interface UndecodableRow extends UndecodableRecord {
  receivedAt: Date;
}

/** Filters of {@link DeliveryStore.undecodableMessages}; all optional. */
export interface UndecodableFilter {
  /** Received at or after. */
  since?: Date | undefined;
  /** Received before. */
  until?: Date | undefined;
  /** At most this many, newest first; default 100. */
  limit?: number | undefined;
}

/**
 * The delivery store. Every method may be called concurrently; claims and settlements made
 * in the same tick are batched into one statement.
 */
export interface DeliveryStore {
  /**
   * Claim a delivery before sending it, so no other replica (or copy of the message) sends it
   * meanwhile, and none sends it again once settled.
   *
   * - No row yet → inserted `pending`, leased to this store's owner until now + `leaseMs`,
   *   attempts 1 → `claimed`.
   * - `delivered` or `dead-lettered` → `settled`.
   * - A live lease (another replica's, or this one's: two copies of a message can reach one
   *   replica) → `busy`.
   * - Lease expired (its sender died or hung), or `retrying` with no lease → taken over,
   *   attempts + 1 → `claimed`.
   *
   * Atomic across processes: the decision is one `INSERT … ON CONFLICT DO UPDATE … WHERE`
   * statement, so of replicas racing for one delivery exactly one gets `claimed`. Times are
   * the database's clock, so replicas' clock skew does not shorten leases. Claims made in the
   * same tick (up to 100) share that one statement.
   */
  claim(delivery: DeliveryIdentity, leaseMs: number): Promise<Claim>;
  /** The claimed delivery was sent: `delivered`, lease released; the attempt records the provider's id. */
  delivered(
    eventId: string,
    destination: string,
    info: { providerMessageId?: string | undefined; subject?: string | undefined },
  ): Promise<void>;
  /**
   * A failed attempt that will be retried: `retrying`, lease released, last error kept. Only
   * the attempt this store claimed is released: if its lease expired and another replica took
   * the delivery over, that replica's lease is left alone.
   */
  failed(eventId: string, destination: string, error: string): Promise<void>;
  /** Given up on (permanent failure or attempts exhausted): `dead-lettered` with the reason; never downgrades `delivered`. */
  deadLettered(eventId: string, destination: string, reason: string): Promise<void>;
  /** An undecodable message: logged with the queue's message id, the reason and the transport. */
  undecodable(record: UndecodableRecord): Promise<void>;
  /**
   * A delivery a silence muted: logged `silenced` with the silence's id, and settled (a claim
   * answers `settled`; `herald redeliver` reopens it). One already delivered or dead-lettered,
   * or held by a live lease, is left as it is.
   */
  silenced(delivery: DeliveryIdentity, silenceId: string): Promise<void>;
  /**
   * Folds a delivery just claimed into its destination's digest, in one transaction: it joins
   * the open digest of its group, or opens one due in `windowMs` (replicas racing to open one
   * agree on a winner). A joined delivery is settled `folded` with the digest's id; the event
   * that opens a digest with `immediateFirst` keeps its claim and is sent now (`first`).
   * Asked again for the same delivery (a redelivered message), it answers what it did then.
   */
  fold(delivery: DeliveryIdentity, join: DigestJoin): Promise<FoldResult>;
  /**
   * Starts watching an execution (`ended` false): an `overdue` digest due in `withinMs`, unless
   * its group was watched before (a redelivered event, or one that ended already: out of order).
   * Or stops (`ended` true): the open watch is `met`, or one that never opened is recorded met,
   * so a late start does not open it.
   */
  watchExecution(watch: ExecutionWatch, ended: boolean): Promise<void>;
  /**
   * A rule's `oncePer` for a delivery just claimed: the first event to ask for a key (one per
   * rule, destination and value) sends; any other is settled `suppressed`, naming the event
   * that sent it. Asked again by the event holding the key (a retry), it goes ahead.
   */
  once(delivery: DeliveryIdentity, key: OnceKey): Promise<OnceResult>;
  /**
   * A rate limit's token for a destination: at most `max` per period of `perMs` (periods are
   * aligned to the epoch, by the database's clock, shared by every replica). None left:
   * `allowed` false and how long until the next period.
   */
  takeToken(destination: string, max: number, perMs: number): Promise<RateToken>;
  /** Digests to send now: open ones whose window ended or that filled up, and closed ones due a retry. */
  dueDigests(limit: number): Promise<string[]>;
  /** Ends an open digest's window (no event joins it any more); nothing when it is not open. */
  closeDigest(id: string): Promise<void>;
  /** A digest with its events (none read with `events: false`, for a look before claiming it). */
  digest(id: string, options?: { events?: boolean }): Promise<DigestContents | undefined>;
  /** A closed digest's send failed: try again in `delayMs`. */
  retryDigest(id: string, delayMs: number): Promise<void>;
  /** A closed digest is done: sent, empty or given up on. */
  finishDigest(id: string, status: 'sent' | 'empty' | 'dead-lettered'): Promise<void>;
  /** The digests kept, newest first. */
  digests(filter: DigestFilter): Promise<DigestRow[]>;
  /** Adds a silence; its id is made here. */
  addSilence(silence: Omit<Silence, 'id'>): Promise<Silence>;
  /** The silences in force now (started, not ended), or with `all`, every one kept, newest first. */
  silences(options?: { all?: boolean }): Promise<Silence[]>;
  /** Ends a silence now; false when there is no silence of that id in force. */
  expireSilence(id: string): Promise<boolean>;
  /** The undecodable messages logged, newest first. */
  undecodableMessages(filter: UndecodableFilter): Promise<UndecodableRow[]>;
  /** The delivery log, newest last attempt first. */
  list(filter: DeliveryFilter): Promise<DeliveryRow[]>;
  /** Every attempt of an event's deliveries, oldest first. */
  attempts(eventId: string): Promise<AttemptRow[]>;
  /**
   * For `herald redeliver`: make the event's deliveries that were not delivered (all of them
   * with `force`; only `destination`, a key or a label, when given) claimable again:
   * `retrying`, lease cleared. A delivery under a live lease is being sent right now and is
   * left alone, so a redelivery never races a send. Returns the rows reopened.
   */
  reopen(eventId: string, options: { destination?: string; force?: boolean }): Promise<DeliveryRow[]>;
  /**
   * Retention: deletes deliveries (with their attempts) and undecodable records whose last
   * activity is before `before`, a few hundred rows per statement with a pause between, so a
   * purge never holds the database's locks long enough to stall claims. Returns the count.
   */
  purge(before: Date): Promise<number>;
  /**
   * Keeps the message an event arrived in, once (the first copy wins), for `herald redeliver`.
   * Calls made together go in one statement.
   */
  keepMessage(message: KeptMessage): Promise<void>;
  /** The message kept for an event; undefined when none was (or retention removed it). */
  message(eventId: string): Promise<KeptMessage | undefined>;
  /**
   * Calls to the database so far: statements, and for SQLite's batched writes one transaction
   * each (for the benchmark's "store round trips per event").
   */
  readonly roundTrips: number;
  /** Waits for batched work, then closes the connection(s). */
  close(): Promise<void>;
}

/** The message an event arrived in, as the queue gave it. */
export interface KeptMessage {
  eventId: string;
  /** Text (SQS, the in-process queue) or bytes (Pub/Sub). */
  body: string | Uint8Array;
  attributes: Record<string, string>;
}
