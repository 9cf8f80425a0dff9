/**
 * The delivery store, one implementation for SQLite and PostgreSQL. The writes every delivery
 * makes (claim, settle, keep its message) are batched here and run by each backend's hot path
 * (`writes-sqlite.ts`, `writes-postgres.ts`), which decide with the same SQL (`writes.ts`);
 * everything else (the log operators read, redelivery, retention, migrations) is Kysely.
 */
import { randomBytes } from 'node:crypto';
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { TickBatcher } from './batcher.js';
import {
  ATTENTION_STATUSES_SQL,
  type Database,
  type DeliveriesTable,
  type DigestsTable,
  ROUTINE_STATUSES,
  type SilencesTable,
} from './schema.js';
import type {
  AttemptRow,
  Claim,
  DeliveryFilter,
  DeliveryIdentity,
  DeliveryRow,
  DeliveryStore,
  DigestContents,
  DigestFilter,
  DigestJoin,
  DigestRow,
  ExecutionWatch,
  FoldResult,
  KeptMessage,
  OnceKey,
  OnceResult,
  RateToken,
  Silence,
  SilenceMatcher,
  UndecodableFilter,
  UndecodableRecord,
  UndecodableRow,
} from './types.js';
import {
  CLAIM_COLUMNS,
  type ClaimRequest,
  type ClaimResult,
  type DeliveryWrites,
  type FoldRequest,
  type KeptRow,
  keyOf,
  SETTLED,
  type Settlement,
} from './writes.js';

export type Backend = 'sqlite' | 'postgres';

/** At most this many writes (claims, settlements, kept messages) per batch. */
const MAX_BATCH = 256;
/**
 * How long settlements and kept messages wait to be written with others. Nobody's send waits
 * for them (a message's slot is free once its sends are done; only its ack waits), so they
 * go in larger batches than claims, which a send does wait for and which go at the end of the
 * tick in small batches of their own.
 */
const RECORD_DELAY_MS = 10;
/** Rows deleted per retention statement. */
const PURGE_BATCH = 500;

/** A settlement as asked for; the store adds the attempt it holds. */
type SettlementRequest = Omit<Settlement, 'attempt'>;

/** One write waiting for its batch. */
type Write =
  | { kind: 'claim'; request: ClaimRequest }
  | { kind: 'settle'; settlement: SettlementRequest }
  | { kind: 'keep'; message: KeptMessage };

export class KyselyDeliveryStore implements DeliveryStore {
  /**
   * The attempt number of each delivery this store holds a claim on. It fences settlements:
   * `failed` releases the lease only if the delivery is still at this attempt, so a sender
   * whose lease expired cannot release the lease of the replica that took over.
   */
  private readonly held = new Map<string, number>();
  /** Claims made in one tick, in one transaction (SQLite) or statement (PostgreSQL). */
  private readonly claims: TickBatcher<Write, Claim | undefined>;
  /** Settlements and kept messages, gathered for a few milliseconds: one transaction, or a statement of each kind. */
  private readonly records: TickBatcher<Write, Claim | undefined>;
  /** Folds into digests asked for together: one transaction (SQLite), or at once on the pool. */
  private readonly folds: TickBatcher<FoldRequest, FoldResult>;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly writes: DeliveryWrites,
    backend: Backend,
    /** The database's clock in epoch milliseconds, so replicas' clock skew does not bend leases. */
    private readonly now: RawBuilder<number>,
    private readonly counter: { trips: number },
  ) {
    // SQLite runs a batch synchronously, so one at a time, growing under load. PostgreSQL
    // takes a few claim batches at once from its pool, and one batch of records (up to two
    // statements), so claims never wait for a connection behind them.
    const concurrency = backend === 'postgres' ? 4 : 1;
    // SQLite's claims go as soon as the code asking for them is done (a receive's messages ask
    // in one go): a batch is a synchronous transaction of about a millisecond, and waiting for
    // the end of the event loop's turn cost more than that. PostgreSQL's wait for the end of
    // the turn: a statement per receive would cost the server more than the wait.
    this.claims = new TickBatcher(
      (writes) => this.writeBatch(writes),
      MAX_BATCH,
      concurrency,
      backend === 'sqlite' ? 'microtask' : 0,
    );
    this.records = new TickBatcher((writes) => this.writeBatch(writes), MAX_BATCH, 1, RECORD_DELAY_MS);
    // A fold follows its claim's answer, so the folds of one claim batch come together.
    this.folds = new TickBatcher(
      (requests) => this.writes.fold(requests),
      MAX_BATCH,
      concurrency,
      backend === 'sqlite' ? 'microtask' : 0,
    );
  }

  get roundTrips(): number {
    return this.counter.trips + this.writes.calls;
  }

  claim(delivery: DeliveryIdentity, leaseMs: number): Promise<Claim> {
    this.assertOpen();
    const request = { delivery, leaseMs: Math.max(1, Math.round(leaseMs)) };
    return this.claims.submit({ kind: 'claim', request }) as Promise<Claim>;
  }

  delivered(
    eventId: string,
    destination: string,
    info: { providerMessageId?: string | undefined; subject?: string | undefined },
  ): Promise<void> {
    this.assertOpen();
    return this.settle({
      eventId,
      destination,
      status: 'delivered',
      error: null,
      providerMessageId: info.providerMessageId ?? null,
      subject: info.subject ?? null,
    });
  }

  failed(eventId: string, destination: string, error: string): Promise<void> {
    this.assertOpen();
    return this.settle({
      eventId,
      destination,
      status: 'retrying',
      error,
      providerMessageId: null,
      subject: null,
    });
  }

  deadLettered(eventId: string, destination: string, reason: string): Promise<void> {
    this.assertOpen();
    return this.settle({
      eventId,
      destination,
      status: 'dead-lettered',
      error: reason,
      providerMessageId: null,
      subject: null,
    });
  }

  async undecodable(record: UndecodableRecord): Promise<void> {
    this.assertOpen();
    await sql`insert into undecodable (message_id, source, reason, received_at)
      values (${record.messageId}, ${record.source}, ${record.reason}, ${this.now})`.execute(this.db);
  }

  async silenced(delivery: DeliveryIdentity, silenceId: string): Promise<void> {
    this.assertOpen();
    const { eventId, destination, label, execution, phase } = delivery;
    const now = this.now;
    // Not a claim (nothing is sent, so no attempt): the row is made, or one that is neither
    // settled nor held (a retry that comes back under a silence) is marked.
    await sql`insert into deliveries (${sql.raw(CLAIM_COLUMNS)}, silence_id)
      values (${eventId}, ${destination}, ${label}, ${execution?.project ?? null}, ${execution?.domain ?? null},
        ${execution?.name ?? null}, ${phase ?? null}, 'silenced', 0, ${now}, ${now}, ${now}, null, null, ${silenceId})
      on conflict (event_id, destination) do update set
        status = 'silenced', silence_id = excluded.silence_id, updated_at = excluded.updated_at
      where deliveries.status not in ${sql.raw(SETTLED)}
        and (deliveries.lease_until is null or deliveries.lease_until <= excluded.updated_at)`.execute(this.db);
  }

  async fold(delivery: DeliveryIdentity, join: DigestJoin): Promise<FoldResult> {
    this.assertOpen();
    const { eventId, destination, label } = delivery;
    const newDigestId = `dig-${randomBytes(6).toString('hex')}`;
    const result = await this.folds.submit({ eventId, destination, label, join, newDigestId });
    // Folded: settled in the store, so this store's claim on it is over.
    if (result.role === 'held') this.held.delete(keyOf(eventId, destination));
    return result;
  }

  async once(delivery: DeliveryIdentity, key: OnceKey): Promise<OnceResult> {
    this.assertOpen();
    const { eventId, destination } = delivery;
    await sql`insert into once_keys (once_key, value, destination, event_id, created_at)
      values (${key.key}, ${key.value}, ${destination}, ${eventId}, ${this.now})
      on conflict (once_key) do nothing`.execute(this.db);
    const holder = await this.db
      .selectFrom('once_keys')
      .select('event_id')
      .where('once_key', '=', key.key)
      .executeTakeFirst();
    if (!holder || holder.event_id === eventId) return { first: true };
    const note = `sent once per '${key.value}': event ${holder.event_id} sent it`;
    await sql`update deliveries set status = 'suppressed', last_error = ${note}, lease_owner = null,
        lease_until = null, updated_at = ${this.now}
      where event_id = ${eventId} and destination = ${destination} and status not in ${sql.raw(SETTLED)}`.execute(
      this.db,
    );
    await sql`update attempts set outcome = 'suppressed', finished_at = ${this.now}, error = ${note}
      where event_id = ${eventId} and destination = ${destination} and outcome = 'started'`.execute(this.db);
    this.held.delete(keyOf(eventId, destination));
    return { first: false, sentFor: holder.event_id };
  }

  async takeToken(destination: string, max: number, perMs: number): Promise<RateToken> {
    this.assertOpen();
    // An integer, so that the division is one in SQLite too (a parameter may be bound as a real).
    const period = sql`cast(${Math.max(1, Math.round(perMs))} as bigint)`;
    const { rows } = await sql<{ count: number }>`insert into rate_counters (destination, window_start, count)
      values (${destination}, (${this.now} / ${period}) * ${period}, 1)
      on conflict (destination, window_start) do update set count = rate_counters.count + 1
      where rate_counters.count < ${max}
      returning count`.execute(this.db);
    if (rows.length > 0) return { allowed: true };
    const left = await sql<{
      left: number;
    }>`select (${this.now} / ${period}) * ${period} + ${period} - ${this.now} as left`.execute(this.db);
    return { allowed: false, periodLeftMs: Number(left.rows[0]?.left ?? perMs) };
  }

  async watchExecution(watch: ExecutionWatch, ended: boolean): Promise<void> {
    this.assertOpen();
    const now = this.now;
    const id = `ovd-${randomBytes(6).toString('hex')}`;
    // Started: opened unless it was ever watched. Ended: an open watch is met, and one not yet
    // started is recorded met, so a start that arrives late (queues do not keep order) finds it.
    const status = ended ? 'met' : 'open';
    const due = ended ? now : sql<number>`${now} + ${watch.withinMs}`;
    const onConflict = ended
      ? sql`on conflict (group_key) where kind = 'overdue' do update set status = 'met', updated_at = excluded.updated_at
          where digests.status = 'open'`
      : sql`on conflict do nothing`;
    await sql`insert into digests
        (id, group_key, kind, rule, destination, label, target, group_values, window_ms, max_members, status,
         members, opened_at, due_at, updated_at, opener_event_id, opener_event)
      values (${id}, ${watch.groupKey}, 'overdue', ${watch.rule}, ${watch.destination}, ${watch.label},
        ${watch.target}, ${JSON.stringify(watch.group)}, ${watch.withinMs}, 1, ${status}, 1, ${now}, ${due}, ${now},
        null, ${watch.event})
      ${onConflict}`.execute(this.db);
  }

  async dueDigests(limit: number): Promise<string[]> {
    this.assertOpen();
    const rows = await this.db
      .selectFrom('digests')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'open'), eb('due_at', '<=', this.now)]),
          eb.and([eb('status', '=', 'closed'), eb('next_try_at', '<=', this.now)]),
        ]),
      )
      .orderBy('due_at')
      .limit(Math.max(1, Math.floor(limit)))
      .execute();
    return rows.map((row) => row.id);
  }

  async closeDigest(id: string): Promise<void> {
    this.assertOpen();
    await this.db
      .updateTable('digests')
      .set({ status: 'closed', closed_at: this.now, next_try_at: this.now, updated_at: this.now })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .execute();
  }

  async digest(id: string, options: { events?: boolean } = {}): Promise<DigestContents | undefined> {
    this.assertOpen();
    const row = await this.db.selectFrom('digests').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    if (options.events === false)
      return { ...toDigestRow(row), target: row.target, openerEvent: row.opener_event, events: [] };
    const events = await this.db
      .selectFrom('digest_events')
      .selectAll()
      .where('digest_id', '=', id)
      .orderBy('joined_at')
      .orderBy('event_id')
      .execute();
    return {
      ...toDigestRow(row),
      target: row.target,
      openerEvent: row.opener_event,
      events: events.map((e) => ({ eventId: e.event_id, event: e.event, joinedAt: new Date(Number(e.joined_at)) })),
    };
  }

  async retryDigest(id: string, delayMs: number): Promise<void> {
    this.assertOpen();
    const delay = Math.max(0, Math.round(delayMs));
    await this.db
      .updateTable('digests')
      .set({ next_try_at: sql<number>`${this.now} + ${delay}`, updated_at: this.now })
      .where('id', '=', id)
      .where('status', '=', 'closed')
      .execute();
  }

  async finishDigest(id: string, status: 'sent' | 'empty' | 'dead-lettered'): Promise<void> {
    this.assertOpen();
    await this.db
      .updateTable('digests')
      .set({ status, next_try_at: null, updated_at: this.now })
      .where('id', '=', id)
      .where('status', 'in', ['open', 'closed'])
      .execute();
  }

  async digests(filter: DigestFilter): Promise<DigestRow[]> {
    this.assertOpen();
    let query = this.db.selectFrom('digests').selectAll();
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    const rows = await query
      .orderBy('opened_at', 'desc')
      .orderBy('id')
      .limit(Math.max(1, Math.floor(filter.limit ?? 100)))
      .execute();
    return rows.map(toDigestRow);
  }

  async addSilence(silence: Omit<Silence, 'id'>): Promise<Silence> {
    this.assertOpen();
    const id = `sil-${randomBytes(4).toString('hex')}`;
    await this.db
      .insertInto('silences')
      .values({
        id,
        matchers: JSON.stringify(silence.matchers),
        comment: silence.comment,
        created_by: silence.createdBy,
        starts_at: silence.startsAt.getTime(),
        ends_at: silence.endsAt.getTime(),
      })
      .execute();
    return { ...silence, id };
  }

  async silences(options: { all?: boolean } = {}): Promise<Silence[]> {
    this.assertOpen();
    let query = this.db.selectFrom('silences').selectAll();
    if (!options.all) query = query.where('starts_at', '<=', this.now).where('ends_at', '>', this.now);
    const rows = await query.orderBy('starts_at', 'desc').orderBy('id').execute();
    return rows.map(toSilence);
  }

  async expireSilence(id: string): Promise<boolean> {
    this.assertOpen();
    const result = await this.db
      .updateTable('silences')
      .set({ ends_at: this.now })
      .where('id', '=', id)
      .where('ends_at', '>', this.now)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async undecodableMessages(filter: UndecodableFilter): Promise<UndecodableRow[]> {
    let query = this.db.selectFrom('undecodable').selectAll();
    if (filter.since !== undefined) query = query.where('received_at', '>=', filter.since.getTime());
    if (filter.until !== undefined) query = query.where('received_at', '<', filter.until.getTime());
    const rows = await query
      .orderBy('received_at', 'desc')
      .orderBy('message_id')
      .limit(Math.max(1, Math.floor(filter.limit ?? 100)))
      .execute();
    return rows.map((row) => ({
      messageId: row.message_id,
      source: row.source,
      reason: row.reason,
      receivedAt: new Date(Number(row.received_at)),
    }));
  }

  async list(filter: DeliveryFilter): Promise<DeliveryRow[]> {
    let query = this.db.selectFrom('deliveries').selectAll();
    if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
    if (filter.digestId !== undefined) query = query.where('digest_id', '=', filter.digestId);
    if (filter.execution !== undefined) {
      const parts = filter.execution.split('/');
      if (parts.length === 3) {
        const [project = '', domain = '', name = ''] = parts;
        query = query.where('name', '=', name).where('project', '=', project).where('domain', '=', domain);
      } else {
        query = query.where('name', '=', filter.execution);
      }
    }
    if (filter.status !== undefined) {
      query = query.where('status', '=', filter.status);
      // Repeated word for word, so both planners see that `deliveries_attention` holds the rows.
      if (!ROUTINE_STATUSES.includes(filter.status)) {
        query = query.where(sql<boolean>`${sql.raw(ATTENTION_STATUSES_SQL)}`);
      }
    }
    if (filter.destination !== undefined && filter.destination !== '') {
      // Case-insensitive in both backends (SQLite's LIKE is, PostgreSQL's is not), and the
      // operator's text is matched literally.
      const pattern = `%${filter.destination.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query = query.where(
        sql<boolean>`(lower(label) like ${pattern} escape '\\' or lower(destination) like ${pattern} escape '\\')`,
      );
    }
    if (filter.since !== undefined) query = query.where('last_attempt_at', '>=', filter.since.getTime());
    if (filter.until !== undefined) query = query.where('last_attempt_at', '<', filter.until.getTime());
    const rows = await query
      .orderBy('last_attempt_at', 'desc')
      .orderBy('event_id')
      .orderBy('destination')
      .limit(Math.max(1, Math.floor(filter.limit ?? 100)))
      .execute();
    return rows.map(toDeliveryRow);
  }

  async attempts(eventId: string): Promise<AttemptRow[]> {
    const rows = await this.db
      .selectFrom('attempts')
      .selectAll()
      .where('event_id', '=', eventId)
      .orderBy('started_at')
      .orderBy('destination')
      .orderBy('attempt')
      .execute();
    const latest = new Map<string, number>();
    for (const row of rows) {
      latest.set(row.destination, Math.max(latest.get(row.destination) ?? 0, row.attempt));
    }
    return rows.map((row) => ({
      eventId: row.event_id,
      destination: row.destination,
      attempt: row.attempt,
      owner: row.owner,
      startedAt: new Date(Number(row.started_at)),
      finishedAt: row.finished_at === null ? null : new Date(Number(row.finished_at)),
      // Never settled, and a later claim took over once its lease expired.
      outcome:
        row.outcome === 'started' && row.attempt < (latest.get(row.destination) ?? 0) ? 'abandoned' : row.outcome,
      error: row.error,
      providerMessageId: row.provider_message_id,
    }));
  }

  async reopen(eventId: string, options: { destination?: string; force?: boolean }): Promise<DeliveryRow[]> {
    this.assertOpen();
    let query = this.db
      .updateTable('deliveries')
      // A folded delivery reopened is folded again into the digest open then (or opens one).
      .set({ status: 'retrying', lease_owner: null, lease_until: null, digest_id: null, updated_at: this.now })
      .where('event_id', '=', eventId)
      // A live lease is a send under way: reopening it would let a second one start.
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', this.now)]));
    if (!options.force) query = query.where('status', '<>', 'delivered');
    if (options.destination !== undefined) {
      const destination = options.destination;
      query = query.where((eb) => eb.or([eb('destination', '=', destination), eb('label', '=', destination)]));
    }
    const rows = await query.returningAll().execute();
    return rows.map(toDeliveryRow).sort((a, b) => a.destination.localeCompare(b.destination));
  }

  async purge(before: Date): Promise<number> {
    this.assertOpen();
    const cutoff = before.getTime();
    const batch = PURGE_BATCH;
    let total = 0;
    total += await this.inBatches(
      // By `deliveries_time`: a row not updated since the cutoff was not attempted since either
      // (migration 0005 says when `updated_at` can trail `last_attempt_at`, and why that is safe).
      () => sql`delete from deliveries where (event_id, destination) in (
        select event_id, destination from deliveries
        where last_attempt_at < ${cutoff} and updated_at < ${cutoff} limit ${batch})`,
    );
    total += await this.inBatches(
      () => sql`delete from messages where event_id in (
        select event_id from messages where kept_at < ${cutoff} limit ${batch})`,
    );
    total += await this.inBatches(
      () => sql`delete from undecodable where received_at in (
        select received_at from undecodable where received_at < ${cutoff} order by received_at limit ${batch})`,
    );
    // Digests done before the cutoff (open and closed ones are still to be sent), their events first.
    for (;;) {
      const done = await this.db
        .selectFrom('digests')
        .select('id')
        .where('updated_at', '<', cutoff)
        .where('status', 'not in', ['open', 'closed'])
        .limit(batch)
        .execute();
      const ids = done.map((row) => row.id);
      if (ids.length === 0) break;
      await this.db.deleteFrom('digest_events').where('digest_id', 'in', ids).execute();
      total += Number((await this.db.deleteFrom('digests').where('id', 'in', ids).executeTakeFirst()).numDeletedRows);
      if (ids.length < batch) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    total += await this.inBatches(
      () => sql`delete from once_keys where once_key in (
        select once_key from once_keys where created_at < ${cutoff} limit ${batch})`,
    );
    // Rate counters of periods long over, and silences that ended: few, one statement each.
    await sql`delete from rate_counters where window_start < ${cutoff}`.execute(this.db);
    const result = await sql`delete from silences where ends_at < ${cutoff}`.execute(this.db);
    total += Number(result.numAffectedRows ?? 0);
    return total;
  }

  /**
   * Runs a delete of at most {@link PURGE_BATCH} rows until one deletes fewer, with a pause
   * between: claims and settlements get the database (and, for SQLite, the one connection)
   * between batches. Returns the rows deleted.
   */
  private async inBatches(statement: () => RawBuilder<unknown>): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = Number((await statement().execute(this.db)).numAffectedRows ?? 0);
      total += deleted;
      if (deleted < PURGE_BATCH) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  keepMessage(message: KeptMessage): Promise<void> {
    this.assertOpen();
    return this.records.submit({ kind: 'keep', message }).then(() => undefined);
  }

  async message(eventId: string): Promise<KeptMessage | undefined> {
    this.assertOpen();
    const row = await this.db.selectFrom('messages').selectAll().where('event_id', '=', eventId).executeTakeFirst();
    if (!row) return undefined;
    return {
      eventId,
      body: row.encoding === 'base64' ? new Uint8Array(Buffer.from(row.body, 'base64')) : row.body,
      attributes: JSON.parse(row.attributes) as Record<string, string>,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.claims.drained(), this.records.drained(), this.folds.drained()]);
    await this.writes.close();
    await this.db.destroy();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the delivery store is closed');
  }

  private settle(settlement: SettlementRequest): Promise<void> {
    return this.records.submit({ kind: 'settle', settlement }).then(() => undefined);
  }

  /** One batch of writes; one answer per write, in order (a claim's, or undefined). */
  private async writeBatch(writes: Write[]): Promise<(Claim | undefined)[]> {
    // A message kept twice in one batch (two copies of it) is one row: the first copy's.
    const kept = new Map<string, KeptRow>();
    // Settlements in call order: a delivery settled twice in one batch is settled twice, in turn.
    const settlements: Settlement[] = [];
    // A delivery claimed twice in one batch is decided once.
    const claims = new Map<string, ClaimRequest>();
    for (const write of writes) {
      if (write.kind === 'keep') {
        const { eventId, body, attributes } = write.message;
        if (!kept.has(eventId)) kept.set(eventId, keptRow(eventId, body, attributes));
      } else if (write.kind === 'settle') {
        const key = keyOf(write.settlement.eventId, write.settlement.destination);
        settlements.push({ ...write.settlement, attempt: this.held.get(key) ?? null });
        this.held.delete(key);
      } else {
        const key = keyOf(write.request.delivery.eventId, write.request.delivery.destination);
        if (!claims.has(key)) claims.set(key, write.request);
      }
    }
    // In key order: replicas upserting overlapping batches then lock rows in the same order,
    // so PostgreSQL never has to break a deadlock between them.
    const requests = [...claims.values()].sort((x, y) =>
      compareKeys(x.delivery.eventId, x.delivery.destination, y.delivery.eventId, y.delivery.destination),
    );
    const results = await this.writes.write({ kept: [...kept.values()], settlements, claims: requests });

    const answers = new Map<string, Claim>();
    for (const [index, request] of requests.entries()) {
      const key = keyOf(request.delivery.eventId, request.delivery.destination);
      const result = results[index] ?? { kind: 'busy' };
      if (result.kind === 'claimed') this.held.set(key, result.attempt);
      answers.set(key, answerOf(result, request.leaseMs));
    }
    // The first request for a delivery gets the answer; the others are `busy` if it was
    // claimed (it is held now), or get the same answer.
    const answered = new Set<string>();
    return writes.map((write) => {
      if (write.kind !== 'claim') return undefined;
      const { delivery, leaseMs } = write.request;
      const key = keyOf(delivery.eventId, delivery.destination);
      const answer = answers.get(key) ?? answerOf({ kind: 'busy' }, leaseMs);
      if (!answered.has(key)) {
        answered.add(key);
        return answer;
      }
      return answer.outcome === 'claimed' ? answerOf({ kind: 'busy' }, leaseMs) : answer;
    });
  }
}

function keptRow(eventId: string, body: string | Uint8Array, attributes: Record<string, string>): KeptRow {
  const text = typeof body === 'string';
  return {
    event_id: eventId,
    body: text ? body : Buffer.from(body).toString('base64'),
    encoding: text ? 'utf8' : 'base64',
    attributes: JSON.stringify(attributes),
  };
}

/** A claim's answer from what the database found. */
function answerOf(result: ClaimResult, leaseMs: number): Claim {
  if (result.kind === 'claimed') return { outcome: 'claimed' };
  if (result.kind === 'settled') return { outcome: 'settled' };
  // The holder's lease, by the database's clock; a row not visible yet was just claimed, so
  // its lease is about a whole one.
  const left =
    result.leaseUntil !== undefined && result.now !== undefined ? Math.max(0, result.leaseUntil - result.now) : leaseMs;
  return { outcome: 'busy', leaseLeftMs: left };
}

function compareKeys(eventA: string, destinationA: string, eventB: string, destinationB: string): number {
  if (eventA !== eventB) return eventA < eventB ? -1 : 1;
  if (destinationA !== destinationB) return destinationA < destinationB ? -1 : 1;
  return 0;
}

function toDigestRow(row: Selectable<DigestsTable>): DigestRow {
  return {
    id: row.id,
    groupKey: row.group_key,
    kind: row.kind,
    rule: row.rule,
    destination: row.destination,
    label: row.label,
    group: JSON.parse(row.group_values) as Record<string, string>,
    windowMs: Number(row.window_ms),
    status: row.status,
    members: Number(row.members),
    openedAt: new Date(Number(row.opened_at)),
    dueAt: new Date(Number(row.due_at)),
    closedAt: row.closed_at === null ? null : new Date(Number(row.closed_at)),
    openerEventId: row.opener_event_id,
  };
}

function toDeliveryRow(row: Selectable<DeliveriesTable>): DeliveryRow {
  return {
    eventId: row.event_id,
    destination: row.destination,
    label: row.label,
    project: row.project,
    domain: row.domain,
    name: row.name,
    phase: row.phase,
    status: row.status,
    attempts: Number(row.attempts),
    lastError: row.last_error,
    providerMessageId: row.provider_message_id,
    subject: row.subject,
    firstAttemptAt: new Date(Number(row.first_attempt_at)),
    lastAttemptAt: new Date(Number(row.last_attempt_at)),
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until === null ? null : new Date(Number(row.lease_until)),
    silenceId: row.silence_id,
    digestId: row.digest_id,
  };
}

function toSilence(row: Selectable<SilencesTable>): Silence {
  return {
    id: row.id,
    matchers: JSON.parse(row.matchers) as SilenceMatcher[],
    comment: row.comment,
    createdBy: row.created_by,
    startsAt: new Date(Number(row.starts_at)),
    endsAt: new Date(Number(row.ends_at)),
  };
}
