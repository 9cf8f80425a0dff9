/**
 * The hot path in PostgreSQL: each kind of write is one statement whose text never changes.
 * The rows go in as one JSON parameter (`json_to_recordset($1)`), so the statement is prepared
 * once per connection (a named statement) and PostgreSQL neither parses nor plans it again,
 * and the client's work per row is `JSON.stringify`'s: building a VALUES list of a hundred
 * rows per batch, or escaping each column into an array literal, cost more CPU than running it.
 */
import type pg from 'pg';
import type { FoldResult } from './types.js';
import {
  CLAIM_COLUMNS,
  CLAIM_ON_CONFLICT,
  type ClaimRequest,
  type ClaimResult,
  type DeliveryWrites,
  FOLD_TRIES,
  type FoldRequest,
  initialMembers,
  isSettled,
  type KeptRow,
  keyOf,
  type Settlement,
  settleAttempts,
  settleDeliveries,
  type WriteBatch,
} from './writes.js';

/** The database's clock in epoch milliseconds, so replicas' clock skew does not bend leases. */
export const POSTGRES_NOW = 'cast(floor(extract(epoch from statement_timestamp()) * 1000) as bigint)';

/**
 * Claims, and the attempts they start, in one statement. The last select reads every request
 * with what it found: the claimed row from the CTE, or otherwise the row as it stood before
 * the statement (its status and lease); a row this statement cannot see was inserted by a
 * transaction that had not committed when it began, whose holder has it.
 */
const CLAIM = `with input as (
    select * from json_to_recordset($1::json) as t(event_id text, destination text, label text, project text,
      domain text, name text, phase text, lease_ms bigint, position integer)),
  clock as (select ${POSTGRES_NOW} as now),
  claimed as (
    insert into deliveries (${CLAIM_COLUMNS})
    select event_id, destination, label, project, domain, name, phase, 'pending', 1,
      clock.now, clock.now, clock.now, $2, clock.now + lease_ms
    from input cross join clock order by position
    ${CLAIM_ON_CONFLICT}
    returning event_id, destination, attempts, last_attempt_at),
  started as (
    insert into attempts (event_id, destination, attempt, owner, started_at, outcome)
    select event_id, destination, attempts, $2, last_attempt_at, 'started' from claimed
    on conflict do nothing)
  select c.attempts, d.status, d.lease_until, clock.now
  from input i cross join clock
    left join claimed c on c.event_id = i.event_id and c.destination = i.destination
    -- Lateral with a limit (which keeps the planner from flattening it into a join): each row
    -- is one primary-key lookup.
    left join lateral (
      select status, lease_until from deliveries
      where deliveries.event_id = i.event_id and deliveries.destination = i.destination limit 1) d on true
  order by i.position`;

/** A settlement's fields, as columns of the batch's rows (`s`). */
const SETTLED = {
  eventId: 's.event_id',
  destination: 's.destination',
  attempt: 's.attempt',
  status: 's.status',
  error: 's.error',
  providerMessageId: 's.provider_message_id',
  subject: 's.subject',
};

const SETTLE = `with s as (
    select * from json_to_recordset($1::json) as t(event_id text, destination text, attempt integer,
      status text, error text, provider_message_id text, subject text)),
  d as (${settleDeliveries(SETTLED, '$2', POSTGRES_NOW, 'from s')} returning 1),
  a as (${settleAttempts(SETTLED, POSTGRES_NOW, 'from s')} returning 1)
  select (select count(*) from d) as deliveries, (select count(*) from a) as attempts`;

const KEEP = `insert into messages (event_id, body, encoding, attributes, kept_at)
  select event_id, body, encoding, attributes, ${POSTGRES_NOW}
  from json_to_recordset($1::json) as t(event_id text, body text, encoding text, attributes text)
  on conflict (event_id) do nothing`;

/**
 * A fold's first try: join the group's open digest, unless the delivery was folded before (a
 * redelivered message), which the first column then names. Updating the digest's row locks it
 * until the member is in, so a replica closing the digest meanwhile waits, then sees it.
 */
const FOLD_JOIN = `with existing as (
    select d.digest_id, g.opener_event_id from deliveries d join digests g on g.id = d.digest_id
    where d.event_id = $1 and d.destination = $2),
  joined as (
    update digests set members = members + 1, updated_at = ${POSTGRES_NOW},
      due_at = case when members + 1 >= max_members then least(due_at, ${POSTGRES_NOW}) else due_at end,
      -- The event that fills a digest closes it: the next one opens the group's next digest.
      status = case when members + 1 >= max_members then 'closed' else status end,
      closed_at = case when members + 1 >= max_members then ${POSTGRES_NOW} else closed_at end,
      next_try_at = case when members + 1 >= max_members then ${POSTGRES_NOW} else next_try_at end
    where group_key = $3 and status = 'open' and not exists (select 1 from existing)
    returning id),
  member as (
    insert into digest_events (digest_id, event_id, event, joined_at)
    select id, $1, $4, ${POSTGRES_NOW} from joined on conflict do nothing),
  folded as (
    update deliveries set status = 'folded', digest_id = joined.id, lease_owner = null, lease_until = null,
      updated_at = ${POSTGRES_NOW}
    from joined where deliveries.event_id = $1 and deliveries.destination = $2),
  finished as (
    update attempts set outcome = 'folded', finished_at = ${POSTGRES_NOW}
    from joined where attempts.event_id = $1 and attempts.destination = $2 and attempts.outcome = 'started')
  select (select digest_id from existing) as existing_id, (select opener_event_id from existing) as opener,
    (select id from joined) as joined_id`;

/**
 * No open digest to join: open one. Of replicas racing to open the same group's, the unique
 * index on open digests lets one in; the others find nothing here and join it on their next try.
 */
const FOLD_OPEN = `with clock as (select ${POSTGRES_NOW} as now),
  opened as (
    insert into digests (id, group_key, rule, destination, label, target, group_values, window_ms, max_members,
      status, members, opened_at, due_at, updated_at, opener_event_id, opener_event, kind, closed_at, next_try_at)
    select $5, $3, $6, $2, $7, $8, $9, $10::bigint, $11::integer,
      case when $12::integer >= $11::integer then 'closed' else 'open' end, $12::integer, now,
      case when $12::integer >= $11::integer then now else now + $10::bigint end, now,
      case when $13::boolean then $1 end, case when $13::boolean then $4 end, $14,
      case when $12::integer >= $11::integer then now end, case when $12::integer >= $11::integer then now end
    from clock
    on conflict (group_key) where status = 'open' do nothing
    returning id),
  member as (
    insert into digest_events (digest_id, event_id, event, joined_at)
    select id, $1, $4, ${POSTGRES_NOW} from opened where not $13::boolean on conflict do nothing),
  marked as (
    update deliveries set digest_id = opened.id,
      status = case when $13::boolean then deliveries.status else 'folded' end,
      lease_owner = case when $13::boolean then deliveries.lease_owner end,
      lease_until = case when $13::boolean then deliveries.lease_until end,
      updated_at = ${POSTGRES_NOW}
    from opened where deliveries.event_id = $1 and deliveries.destination = $2),
  finished as (
    update attempts set outcome = 'folded', finished_at = ${POSTGRES_NOW}
    from opened where not $13::boolean and attempts.event_id = $1 and attempts.destination = $2
      and attempts.outcome = 'started')
  select (select id from opened) as opened_id`;

export class PostgresWrites implements DeliveryWrites {
  calls = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly owner: string,
  ) {}

  /**
   * Kept messages, settlements and claims, each one statement, at the same time on the pool's
   * connections: a claim waits for no other write. A delivery settled and claimed in one batch
   * (two copies of a message in this replica) is then decided by whichever locks its row
   * first; either answer is safe (`settled`, or `busy` until the settlement lands).
   */
  async write(batch: WriteBatch): Promise<ClaimResult[]> {
    const [claimed] = await Promise.all([
      batch.claims.length > 0 ? this.claim(batch.claims) : [],
      batch.kept.length > 0 ? this.keep(batch.kept) : undefined,
      batch.settlements.length > 0 ? this.settleInTurn(batch.settlements) : undefined,
    ]);
    return claimed;
  }

  private async claim(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    const input = requests.map(({ delivery, leaseMs }, position) => ({
      position,
      event_id: delivery.eventId,
      destination: delivery.destination,
      label: delivery.label,
      project: delivery.execution?.project ?? null,
      domain: delivery.execution?.domain ?? null,
      name: delivery.execution?.name ?? null,
      phase: delivery.phase ?? null,
      lease_ms: leaseMs,
    }));
    const { rows } = await this.run<{
      attempts: number | null;
      status: string | null;
      lease_until: number | null;
      now: number;
    }>('herald_claim_v2', CLAIM, [JSON.stringify(input), this.owner]);
    return rows.map((row): ClaimResult => {
      if (row.attempts !== null) return { kind: 'claimed', attempt: Number(row.attempts) };
      if (isSettled(row.status)) return { kind: 'settled' };
      return { kind: 'busy', leaseUntil: row.lease_until ?? undefined, now: row.now };
    });
  }

  private async settleInTurn(settlements: readonly Settlement[]): Promise<void> {
    let chunk: Settlement[] = [];
    const keys = new Set<string>();
    for (const settlement of settlements) {
      const key = keyOf(settlement.eventId, settlement.destination);
      if (keys.has(key)) {
        await this.settle(chunk);
        chunk = [];
        keys.clear();
      }
      chunk.push(settlement);
      keys.add(key);
    }
    await this.settle(chunk);
  }

  private async settle(settlements: readonly Settlement[]): Promise<void> {
    const input = settlements.map((s) => ({
      event_id: s.eventId,
      destination: s.destination,
      attempt: s.attempt,
      status: s.status,
      error: s.error,
      provider_message_id: s.providerMessageId,
      subject: s.subject,
    }));
    await this.run('herald_settle_v2', SETTLE, [JSON.stringify(input), this.owner]);
  }

  private async keep(rows: readonly KeptRow[]): Promise<void> {
    // KeptRow's fields are the columns' names.
    await this.run('herald_keep_v2', KEEP, [JSON.stringify(rows)]);
  }

  /**
   * The folds of each group in turn (the first opens the digest the others join, rather than
   * all finding none and racing to open it), the groups at once on the pool's connections.
   */
  async fold(requests: readonly FoldRequest[]): Promise<FoldResult[]> {
    const results: FoldResult[] = new Array(requests.length);
    const groups = new Map<string, number[]>();
    for (const [index, request] of requests.entries()) {
      const group = groups.get(request.join.groupKey);
      if (group) group.push(index);
      else groups.set(request.join.groupKey, [index]);
    }
    await Promise.all(
      [...groups.values()].map(async (indices) => {
        for (const index of indices) results[index] = await this.foldOne(requests[index] as FoldRequest);
      }),
    );
    return results;
  }

  /** One statement to join an open digest; when there is none, one to open it. Each is atomic. */
  private async foldOne(request: FoldRequest): Promise<FoldResult> {
    const { eventId, destination, join } = request;
    for (let tries = 0; tries < FOLD_TRIES; tries++) {
      const { rows } = await this.run<{ existing_id: string | null; opener: string | null; joined_id: string | null }>(
        'herald_fold_join_v2',
        FOLD_JOIN,
        [eventId, destination, join.groupKey, join.event],
      );
      const [row] = rows;
      if (row?.existing_id) return { digestId: row.existing_id, role: row.opener === eventId ? 'first' : 'held' };
      if (row?.joined_id) return { digestId: row.joined_id, role: 'held' };
      const opened = await this.run<{ opened_id: string | null }>('herald_fold_open_v3', FOLD_OPEN, [
        eventId,
        destination,
        join.groupKey,
        join.event,
        request.newDigestId,
        join.rule,
        request.label,
        join.target,
        JSON.stringify(join.group),
        join.windowMs,
        join.max,
        initialMembers(join),
        join.immediateFirst,
        join.kind ?? 'digest',
      ]);
      const id = opened.rows[0]?.opened_id;
      if (id) return { digestId: id, role: join.immediateFirst ? 'first' : 'held' };
    }
    throw new Error(`could not join or open the digest of ${join.groupKey}`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Runs a named statement, again when PostgreSQL aborted it to break a deadlock or a
   * serialization conflict (40P01, 40001): the statement had no effect, so repeating it is safe.
   */
  private async run<R extends pg.QueryResultRow>(
    name: string,
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      this.calls++;
      try {
        return await this.pool.query<R>({ name, text, values });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= 5 || (code !== '40P01' && code !== '40001')) throw err;
        await new Promise((resolve) => setTimeout(resolve, 5 * attempt * Math.random()));
      }
    }
  }
}
