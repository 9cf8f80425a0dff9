/**
 * The hot path in SQLite. libsql runs statements synchronously on the calling thread, so a
 * batch is one synchronous transaction of prepared statements, one row each: nothing is parsed
 * per batch, no other statement can interleave with the transaction, and it never waits for
 * the connection behind another batch (through Kysely's async driver a batch took several
 * turns of the event loop and queued behind the others on the one connection).
 */
import type Sqlite from 'libsql';
import {
  CLAIM_COLUMNS,
  CLAIM_ON_CONFLICT,
  type ClaimRequest,
  type ClaimResult,
  type DeliveryWrites,
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
