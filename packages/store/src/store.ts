/**
 * The delivery store over Kysely, one implementation for SQLite and PostgreSQL. The SQL that
 * decides is the same for both (`INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING` for a
 * claim, `UPDATE … FROM (VALUES …)` for settlements); only how statements are grouped
 * differs: PostgreSQL chains them in one statement with data-modifying CTEs (one round trip
 * over the network), SQLite, which has no such CTEs and no network, runs them in one
 * transaction.
 */
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { TickBatcher } from './batcher.js';
import type { Database, DeliveriesTable, MessagesTable } from './schema.js';
import type {
  AttemptRow,
  ClaimOutcome,
  DeliveryFilter,
  DeliveryIdentity,
  DeliveryRow,
  DeliveryStore,
  KeptMessage,
  UndecodableRecord,
} from './types.js';

export type Backend = 'sqlite' | 'postgres';

/** At most this many claims (or settlements) per statement. */
const MAX_BATCH = 100;
/** Rows deleted per retention statement. */
const PURGE_BATCH = 500;

interface ClaimRequest {
  delivery: DeliveryIdentity;
  leaseMs: number;
}

/** One settlement: the status it moves the delivery to, and what the attempt records. */
interface Settlement {
  eventId: string;
  destination: string;
  status: 'delivered' | 'retrying' | 'dead-lettered';
  error: string | null;
  providerMessageId: string | null;
  subject: string | null;
}

const keyOf = (eventId: string, destination: string) => `${eventId}\u0000${destination}`;

export class KyselyDeliveryStore implements DeliveryStore {
  /**
   * The attempt number of each delivery this store holds a claim on. It fences settlements:
   * `failed` releases the lease only if the delivery is still at this attempt, so a sender
   * whose lease expired cannot release the lease of the replica that took over.
   */
  private readonly held = new Map<string, number>();
  private readonly claims: TickBatcher<ClaimRequest, ClaimOutcome>;
  private readonly settlements: TickBatcher<Settlement, undefined>;
  private readonly kept: TickBatcher<KeptMessage, undefined>;
  /** The database's clock in epoch milliseconds, so replicas' clock skew does not bend leases. */
  private readonly now: RawBuilder<number>;
  private closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly backend: Backend,
    readonly owner: string,
    private readonly counter: { trips: number },
  ) {
    this.now =
      backend === 'postgres'
        ? sql<number>`cast(floor(extract(epoch from statement_timestamp()) * 1000) as bigint)`
        : sql<number>`cast(round((julianday('now') - 2440587.5) * 86400000) as integer)`;
    // SQLite writes one at a time whatever we do, so one batch at a time, growing under load;
    // PostgreSQL takes a few batches at once from its pool.
    const concurrency = backend === 'postgres' ? 4 : 1;
    this.claims = new TickBatcher((items) => this.claimBatch(items), MAX_BATCH, concurrency);
    this.settlements = new TickBatcher((items) => this.settleBatch(items), MAX_BATCH, concurrency);
    this.kept = new TickBatcher((items) => this.keepBatch(items), MAX_BATCH, concurrency);
  }

  get roundTrips(): number {
    return this.counter.trips;
  }

  claim(delivery: DeliveryIdentity, leaseMs: number): Promise<ClaimOutcome> {
    this.assertOpen();
    return this.claims.submit({ delivery, leaseMs: Math.max(1, Math.round(leaseMs)) });
  }

  delivered(
    eventId: string,
    destination: string,
    info: { providerMessageId?: string; subject?: string },
  ): Promise<void> {
    this.assertOpen();
    return this.settlements.submit({
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
    return this.settlements.submit({
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
    return this.settlements.submit({
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

  async list(filter: DeliveryFilter): Promise<DeliveryRow[]> {
    let query = this.db.selectFrom('deliveries').selectAll();
    if (filter.eventId !== undefined) query = query.where('event_id', '=', filter.eventId);
    if (filter.execution !== undefined) {
      const parts = filter.execution.split('/');
      if (parts.length === 3) {
        const [project = '', domain = '', name = ''] = parts;
        query = query.where('name', '=', name).where('project', '=', project).where('domain', '=', domain);
      } else {
        query = query.where('name', '=', filter.execution);
      }
    }
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
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
      .set({ status: 'retrying', lease_owner: null, lease_until: null, updated_at: this.now })
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
    let total = 0;
    // Small statements with a pause between: claims and settlements get the database (and,
    // for SQLite, the one connection) between batches.
    for (;;) {
      const result = await sql`delete from deliveries where (event_id, destination) in (
          select event_id, destination from deliveries where updated_at < ${cutoff} limit ${PURGE_BATCH})`.execute(
        this.db,
      );
      const deleted = Number(result.numAffectedRows ?? 0);
      total += deleted;
      if (deleted < PURGE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (;;) {
      const result = await sql`delete from messages where event_id in (
          select event_id from messages where kept_at < ${cutoff} limit ${PURGE_BATCH})`.execute(this.db);
      const deleted = Number(result.numAffectedRows ?? 0);
      total += deleted;
      if (deleted < PURGE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (;;) {
      const result = await sql`delete from undecodable where received_at in (
          select received_at from undecodable where received_at < ${cutoff} order by received_at limit ${PURGE_BATCH})`.execute(
        this.db,
      );
      const deleted = Number(result.numAffectedRows ?? 0);
      total += deleted;
      if (deleted < PURGE_BATCH) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }

  keepMessage(message: KeptMessage): Promise<void> {
    this.assertOpen();
    return this.kept.submit(message);
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

  private async keepBatch(messages: KeptMessage[]): Promise<undefined[]> {
    // One row per event: a batch may hold two copies of one message.
    const rows = new Map<string, Omit<MessagesTable, 'kept_at'>>();
    for (const { eventId, body, attributes } of messages) {
      if (rows.has(eventId)) continue;
      const text = typeof body === 'string';
      rows.set(eventId, {
        event_id: eventId,
        body: text ? body : Buffer.from(body).toString('base64'),
        encoding: text ? 'utf8' : 'base64',
        attributes: JSON.stringify(attributes),
      });
    }
    await this.db
      .insertInto('messages')
      .values([...rows.values()].map((row) => ({ ...row, kept_at: this.now })))
      .onConflict((conflict) => conflict.column('event_id').doNothing())
      .execute();
    return messages.map(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([this.claims.drained(), this.settlements.drained(), this.kept.drained()]);
    await this.db.destroy();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the delivery store is closed');
  }

  /**
   * One batch of claims. The decision is the upsert alone: a row is inserted, or taken over
   * when it is not settled and has no live lease, and comes back from RETURNING; a row that
   * does not come back was settled or leased, which a second statement (only then) tells apart.
   */
  private async claimBatch(items: ClaimRequest[]): Promise<ClaimOutcome[]> {
    // A delivery asked for twice in one batch: the first request decides, the others are
    // `busy` if it was claimed (it is held now) or get the same answer.
    const unique = new Map<string, ClaimRequest>();
    for (const item of items) {
      const key = keyOf(item.delivery.eventId, item.delivery.destination);
      if (!unique.has(key)) unique.set(key, item);
    }
    // In key order: replicas upserting overlapping batches then lock rows in the same order,
    // so PostgreSQL never has to break a deadlock between them.
    const requests = [...unique.values()].sort((x, y) =>
      compareKeys(x.delivery.eventId, x.delivery.destination, y.delivery.eventId, y.delivery.destination),
    );
    const claimed =
      this.backend === 'postgres'
        ? await retryConflicts(() => this.claimPostgres(requests))
        : await this.claimSqlite(requests);

    const outcomes = new Map<string, ClaimOutcome>();
    for (const row of claimed) {
      const key = keyOf(row.event_id, row.destination);
      outcomes.set(key, 'claimed');
      this.held.set(key, Number(row.attempts));
    }
    const rest = requests.filter((r) => !outcomes.has(keyOf(r.delivery.eventId, r.delivery.destination)));
    if (rest.length > 0) {
      const rows = await this.db
        .selectFrom('deliveries')
        .select(['event_id', 'destination', 'status'])
        .where('event_id', 'in', [...new Set(rest.map((r) => r.delivery.eventId))])
        .execute();
      const status = new Map(rows.map((row) => [keyOf(row.event_id, row.destination), row.status]));
      for (const request of rest) {
        const key = keyOf(request.delivery.eventId, request.delivery.destination);
        const found = status.get(key);
        // Not found can only be a row inserted by a transaction this read does not see yet:
        // someone holds it.
        outcomes.set(key, found === 'delivered' || found === 'dead-lettered' ? 'settled' : 'busy');
      }
    }

    const answered = new Set<string>();
    return items.map((item) => {
      const key = keyOf(item.delivery.eventId, item.delivery.destination);
      const outcome = outcomes.get(key) ?? 'busy';
      if (answered.has(key)) return outcome === 'claimed' ? 'busy' : outcome;
      answered.add(key);
      return outcome;
    });
  }

  private upsertClaims(requests: ClaimRequest[]): RawBuilder<ClaimedRow> {
    const now = this.now;
    const values = sql.join(
      requests.map(({ delivery, leaseMs }) => {
        const execution = delivery.execution;
        return sql`(${delivery.eventId}, ${delivery.destination}, ${delivery.label}, ${execution?.project ?? null},
          ${execution?.domain ?? null}, ${execution?.name ?? null}, ${delivery.phase ?? null}, 'pending', 1,
          ${now}, ${now}, ${now}, ${this.owner}, ${now} + cast(${leaseMs} as bigint))`;
      }),
    );
    // `excluded.last_attempt_at` is this statement's now.
    return sql<ClaimedRow>`insert into deliveries (event_id, destination, label, project, domain, name, phase,
        status, attempts, first_attempt_at, last_attempt_at, updated_at, lease_owner, lease_until)
      values ${values}
      on conflict (event_id, destination) do update set
        attempts = deliveries.attempts + 1,
        label = excluded.label,
        last_attempt_at = excluded.last_attempt_at,
        updated_at = excluded.updated_at,
        lease_owner = excluded.lease_owner,
        lease_until = excluded.lease_until
      where deliveries.status not in ('delivered', 'dead-lettered')
        and (deliveries.lease_until is null or deliveries.lease_until <= excluded.last_attempt_at)
      returning event_id, destination, attempts, lease_owner, last_attempt_at`;
  }

  /** One statement: the upsert, and the attempts it started, in a data-modifying CTE. */
  private async claimPostgres(requests: ClaimRequest[]): Promise<ClaimedRow[]> {
    const result = await sql<ClaimedRow>`with claimed as (${this.upsertClaims(requests)}),
        started as (
          insert into attempts (event_id, destination, attempt, owner, started_at, outcome)
          select event_id, destination, attempts, lease_owner, last_attempt_at, 'started' from claimed
          on conflict do nothing)
      select event_id, destination, attempts, lease_owner, last_attempt_at from claimed`.execute(this.db);
    return result.rows;
  }

  /** One transaction: the upsert, then the attempts it started. */
  private async claimSqlite(requests: ClaimRequest[]): Promise<ClaimedRow[]> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await this.upsertClaims(requests).execute(trx);
      if (rows.length > 0) {
        await trx
          .insertInto('attempts')
          .values(
            rows.map((row) => ({
              event_id: row.event_id,
              destination: row.destination,
              attempt: Number(row.attempts),
              owner: row.lease_owner,
              started_at: Number(row.last_attempt_at),
              outcome: 'started' as const,
            })),
          )
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      return rows;
    });
  }

  /**
   * One batch of settlements: the deliveries' status and lease, and their attempts' outcome.
   * A delivery settled twice in one batch goes in consecutive statements, in call order.
   */
  private async settleBatch(items: Settlement[]): Promise<undefined[]> {
    let chunk: Settlement[] = [];
    let keys = new Set<string>();
    for (const item of items) {
      const key = keyOf(item.eventId, item.destination);
      if (keys.has(key)) {
        await this.settleChunk(chunk);
        chunk = [];
        keys = new Set();
      }
      chunk.push(item);
      keys.add(key);
    }
    await this.settleChunk(chunk);
    return items.map(() => undefined);
  }

  private async settleChunk(items: Settlement[]): Promise<void> {
    if (items.length === 0) return;
    const now = this.now;
    const values = sql.join(
      items.map((item) => {
        const key = keyOf(item.eventId, item.destination);
        const attempt = this.held.get(key) ?? null;
        this.held.delete(key);
        return sql`(${item.eventId}, ${item.destination}, ${attempt}, ${item.status}, ${item.error},
          ${item.providerMessageId}, ${item.subject})`;
      }),
    );
    // VALUES columns are column1… in both backends; the casts give PostgreSQL their types.
    const settled = sql`select column1 as event_id, column2 as destination, cast(column3 as integer) as attempt,
        column4 as status, column5 as error, column6 as provider_message_id, column7 as subject
      from (values ${values}) as input`;
    // delivered: always (it was sent). dead-lettered: unless delivered. retrying: only the
    // attempt this store claimed (or, not known here, a delivery no one else holds).
    const updateDeliveries = (from: RawBuilder<unknown>) => sql`update deliveries set
        status = s.status,
        last_error = coalesce(s.error, deliveries.last_error),
        provider_message_id = coalesce(s.provider_message_id, deliveries.provider_message_id),
        subject = coalesce(s.subject, deliveries.subject),
        lease_owner = null,
        lease_until = null,
        updated_at = ${now}
      from ${from} as s
      where deliveries.event_id = s.event_id and deliveries.destination = s.destination and (
        s.status = 'delivered'
        or (s.status = 'dead-lettered' and deliveries.status <> 'delivered')
        or (s.status = 'retrying' and deliveries.status not in ('delivered', 'dead-lettered') and (
          deliveries.attempts = s.attempt
          or (s.attempt is null and (deliveries.lease_owner is null or deliveries.lease_owner = ${this.owner})))))`;
    const updateAttempts = (from: RawBuilder<unknown>) => sql`update attempts set
        outcome = case s.status when 'retrying' then 'failed' else s.status end,
        finished_at = ${now},
        error = s.error,
        provider_message_id = s.provider_message_id
      from ${from} as s
      where attempts.event_id = s.event_id and attempts.destination = s.destination
        and attempts.attempt = s.attempt and attempts.outcome = 'started'`;
    if (this.backend === 'postgres') {
      await retryConflicts(() =>
        sql`with s as (${settled}),
          d as (${updateDeliveries(sql`s`)} returning 1),
          a as (${updateAttempts(sql`s`)} returning 1)
        select (select count(*) from d) as deliveries, (select count(*) from a) as attempts`.execute(this.db),
      );
    } else {
      const from = sql`(${settled})`;
      await this.db.transaction().execute(async (trx) => {
        await updateDeliveries(from).execute(trx);
        await updateAttempts(from).execute(trx);
      });
    }
  }
}

function compareKeys(eventA: string, destinationA: string, eventB: string, destinationB: string): number {
  if (eventA !== eventB) return eventA < eventB ? -1 : 1;
  if (destinationA !== destinationB) return destinationA < destinationB ? -1 : 1;
  return 0;
}

/**
 * Runs a PostgreSQL statement again when the server aborted it to break a deadlock or a
 * serialization conflict (40P01, 40001): the statement had no effect, so repeating it is safe.
 */
async function retryConflicts<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw err;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt * Math.random()));
    }
  }
}

interface ClaimedRow {
  event_id: string;
  destination: string;
  attempts: number;
  lease_owner: string;
  last_attempt_at: number;
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
  };
}
