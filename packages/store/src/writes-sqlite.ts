/**
 * The hot path in SQLite. libsql runs statements synchronously on the calling thread, so a
 * batch is one synchronous transaction of prepared statements, one row each: nothing is parsed
 * per batch, no other statement can interleave with the transaction, and it never waits for
 * the connection behind another batch (through Kysely's async driver a batch took several
 * turns of the event loop and queued behind the others on the one connection).
 */
import type Sqlite from 'libsql';
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
  settleAttempts,
  settleDeliveries,
  type WriteBatch,
} from './writes.js';

/** The database's clock in epoch milliseconds; fixed for the duration of one statement. */
export const SQLITE_NOW = `cast(round((julianday('now') - 2440587.5) * 86400000) as integer)`;

type Statement = ReturnType<Sqlite.Database['prepare']>;

export class SqliteWrites implements DeliveryWrites {
  calls = 0;
  private readonly upsert: Statement;
  private readonly startAttempt: Statement;
  private readonly standing: Statement;
  private readonly settleDelivery: Statement;
  private readonly settleAttempt: Statement;
  private readonly keepRow: Statement;
  private readonly fold_: FoldStatements;

  constructor(
    private readonly db: Sqlite.Database,
    private readonly owner: string,
  ) {
    this.upsert = db.prepare(`insert into deliveries (${CLAIM_COLUMNS})
      values (?, ?, ?, ?, ?, ?, ?, 'pending', 1, ${SQLITE_NOW}, ${SQLITE_NOW}, ${SQLITE_NOW}, ?, ${SQLITE_NOW} + ?)
      ${CLAIM_ON_CONFLICT}
      returning attempts, last_attempt_at`);
    this.startAttempt = db.prepare(`insert into attempts (event_id, destination, attempt, owner, started_at, outcome)
      values (?, ?, ?, ?, ?, 'started') on conflict do nothing`);
    this.standing = db.prepare(
      `select status, lease_until, ${SQLITE_NOW} as now from deliveries where event_id = ? and destination = ?`,
    );
    // Numbered parameters, one row per statement: an UPDATE … FROM a one-row subquery cost
    // twice as much as a plain UPDATE.
    const row = {
      eventId: '?1',
      destination: '?2',
      attempt: '?3',
      status: '?4',
      error: '?5',
      providerMessageId: '?6',
      subject: '?7',
    };
    this.settleDelivery = db.prepare(settleDeliveries(row, '?8', SQLITE_NOW));
    this.settleAttempt = db.prepare(settleAttempts(row, SQLITE_NOW));
    this.keepRow = db.prepare(`insert into messages (event_id, body, encoding, attributes, kept_at)
      values (?, ?, ?, ?, ${SQLITE_NOW}) on conflict (event_id) do nothing`);
    this.fold_ = foldStatements(db);
  }

  async fold(requests: readonly FoldRequest[]): Promise<FoldResult[]> {
    return this.transaction(() => requests.map((request) => this.foldOne(request)));
  }

  /** One fold, inside the batch's transaction. */
  private foldOne(request: FoldRequest): FoldResult {
    const { eventId, destination, join } = request;
    const statements = this.fold_;
    const existing = statements.existing.get([eventId, destination]) as
      | { digest_id: string; opener_event_id: string | null }
      | undefined;
    if (existing) {
      return { digestId: existing.digest_id, role: existing.opener_event_id === eventId ? 'first' : 'held' };
    }
    const held = (digestId: string): FoldResult => {
      statements.member.run([digestId, eventId, join.event]);
      statements.folded.run([eventId, destination, digestId]);
      statements.finished.run([eventId, destination]);
      return { digestId, role: 'held' };
    };
    // In one write transaction nothing can close or open a digest meanwhile: one pass does it.
    for (let tries = 0; tries < FOLD_TRIES; tries++) {
      const joined = statements.join.get([join.groupKey]) as { id: string } | undefined;
      if (joined) return held(joined.id);
      const opened = statements.open.get([
        request.newDigestId,
        join.groupKey,
        join.rule,
        destination,
        request.label,
        join.target,
        JSON.stringify(join.group),
        join.windowMs,
        join.max,
        initialMembers(join),
        join.immediateFirst ? eventId : null,
        join.immediateFirst ? join.event : null,
        join.kind ?? 'digest',
      ]) as { id: string } | undefined;
      if (!opened) continue;
      if (!join.immediateFirst) return held(opened.id);
      statements.opener.run([eventId, destination, opened.id]);
      return { digestId: opened.id, role: 'first' };
    }
    throw new Error(`could not join or open the digest of ${join.groupKey}`);
  }

  async write(batch: WriteBatch): Promise<ClaimResult[]> {
    return this.transaction(() => {
      for (const row of batch.kept) this.keepRow.run([row.event_id, row.body, row.encoding, row.attributes]);
      for (const s of batch.settlements) {
        const row = [s.eventId, s.destination, s.attempt, s.status, s.error, s.providerMessageId, s.subject];
        this.settleDelivery.run([...row, this.owner]);
        this.settleAttempt.run(row);
      }
      return batch.claims.map((request) => this.claim(request));
    });
  }

  private claim({ delivery, leaseMs }: ClaimRequest): ClaimResult {
    const { eventId, destination, execution } = delivery;
    const claimed = this.upsert.get([
      eventId,
      destination,
      delivery.label,
      execution?.project ?? null,
      execution?.domain ?? null,
      execution?.name ?? null,
      delivery.phase ?? null,
      this.owner,
      leaseMs,
    ]) as { attempts: number; last_attempt_at: number } | undefined;
    if (claimed) {
      const attempt = Number(claimed.attempts);
      this.startAttempt.run([eventId, destination, attempt, this.owner, Number(claimed.last_attempt_at)]);
      return { kind: 'claimed', attempt };
    }
    const row = this.standing.get([eventId, destination]) as
      | { status: string; lease_until: number | null; now: number }
      | undefined;
    if (isSettled(row?.status)) return { kind: 'settled' };
    return { kind: 'busy', leaseUntil: row?.lease_until ?? undefined, now: row?.now };
  }

  /** The connection is Kysely's, closed with it. */
  async close(): Promise<void> {}

  /**
   * BEGIN IMMEDIATE takes the write lock up front: a transaction that starts reading and then
   * writes can fail with SQLITE_BUSY when another process (`herald redeliver`) wrote between.
   */
  private transaction<T>(work: () => T): T {
    this.calls++;
    if (this.db.inTransaction) throw new Error('the delivery store: a write batch inside another transaction');
    this.db.exec('begin immediate');
    try {
      const result = work();
      this.db.exec('commit');
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('rollback');
      throw err;
    }
  }
}

interface FoldStatements {
  existing: Statement;
  join: Statement;
  open: Statement;
  member: Statement;
  folded: Statement;
  opener: Statement;
  finished: Statement;
}

function foldStatements(db: Sqlite.Database): FoldStatements {
  const now = SQLITE_NOW;
  return {
    existing: db.prepare(`select d.digest_id, g.opener_event_id from deliveries d join digests g on g.id = d.digest_id
      where d.event_id = ? and d.destination = ?`),
    // The event that fills a digest closes it: the next one opens the group's next digest.
    join: db.prepare(`update digests set members = members + 1, updated_at = ${now},
        due_at = case when members + 1 >= max_members then min(due_at, ${now}) else due_at end,
        status = case when members + 1 >= max_members then 'closed' else status end,
        closed_at = case when members + 1 >= max_members then ${now} else closed_at end,
        next_try_at = case when members + 1 >= max_members then ${now} else next_try_at end
      where group_key = ? and status = 'open' returning id`),
    open: db.prepare(`insert into digests (id, group_key, rule, destination, label, target, group_values, window_ms,
        max_members, status, members, opened_at, due_at, updated_at, opener_event_id, opener_event, kind,
        closed_at, next_try_at)
      values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, case when ?10 >= ?9 then 'closed' else 'open' end, ?10, ${now},
        case when ?10 >= ?9 then ${now} else ${now} + ?8 end, ${now}, ?11, ?12, ?13,
        case when ?10 >= ?9 then ${now} end, case when ?10 >= ?9 then ${now} end)
      on conflict (group_key) where status = 'open' do nothing returning id`),
    member: db.prepare(`insert into digest_events (digest_id, event_id, event, joined_at)
      values (?, ?, ?, ${now}) on conflict do nothing`),
    folded: db.prepare(`update deliveries set status = 'folded', digest_id = ?3, lease_owner = null,
        lease_until = null, updated_at = ${now}
      where event_id = ?1 and destination = ?2`),
    opener: db.prepare(
      `update deliveries set digest_id = ?3, updated_at = ${now} where event_id = ?1 and destination = ?2`,
    ),
    finished: db.prepare(`update attempts set outcome = 'folded', finished_at = ${now}
      where event_id = ? and destination = ? and outcome = 'started'`),
  };
}
