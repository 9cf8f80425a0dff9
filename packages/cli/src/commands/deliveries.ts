import { parseDuration, type ResolvedConfig, readStoreUrl } from '@herald/core/config';
import {
  type AttemptRow,
  DELIVERY_STATUSES,
  type DeliveryFilter,
  type DeliveryRow,
  type DeliveryStatus,
  type DeliveryStore,
  migrateStore,
  openStore,
  type UndecodableFilter,
  type UndecodableRow,
} from '@herald/store';
import { UsageError } from '../errors.js';

/** The store URL a config names, its secret read; a usage error when it names none. */
export function storeUrlOf(config: ResolvedConfig): string {
  const url = readStoreUrl(config);
  if (url === undefined) {
    throw new UsageError(
      `${config.source} keeps no delivery log: set herald.store.url (sqlite:… or postgres://…) to keep one`,
    );
  }
  return url;
}

/** Runs `use` with the config's store open, and closes it. */
export async function withStore<T>(config: ResolvedConfig, use: (store: DeliveryStore) => Promise<T>): Promise<T> {
  const store = await openStore({ url: storeUrlOf(config) });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** `herald store migrate`: the migrations applied (none when the store is up to date). */
export function migrate(config: ResolvedConfig): Promise<string[]> {
  return migrateStore(storeUrlOf(config));
}

/** The options of `herald deliveries list`, as typed. */
export interface ListOptions {
  execution?: string;
  event?: string;
  digest?: string;
  status?: string;
  destination?: string;
  since?: string;
  until?: string;
  limit?: string;
}

/** `herald deliveries list` options → the store's filter. @throws UsageError naming a bad option. */
export function deliveryFilter(options: ListOptions): DeliveryFilter {
  const filter: DeliveryFilter = { limit: positive(options.limit ?? '100', '--limit') };
  if (options.execution) filter.execution = options.execution;
  if (options.event) filter.eventId = options.event;
  if (options.digest) filter.digestId = options.digest;
  if (options.destination) filter.destination = options.destination;
  if (options.status) {
    if (!(DELIVERY_STATUSES as readonly string[]).includes(options.status)) {
      throw new UsageError(`--status: expected one of ${DELIVERY_STATUSES.join(', ')}, got '${options.status}'`);
    }
    filter.status = options.status as DeliveryStatus;
  }
  if (options.since) filter.since = time(options.since, '--since');
  if (options.until) filter.until = time(options.until, '--until');
  return filter;
}

/** `herald deliveries undecodable` options → the store's filter. @throws UsageError naming a bad option. */
export function undecodableFilter(options: Pick<ListOptions, 'since' | 'until' | 'limit'>): UndecodableFilter {
  const filter: UndecodableFilter = { limit: positive(options.limit ?? '100', '--limit') };
  if (options.since) filter.since = time(options.since, '--since');
  if (options.until) filter.until = time(options.until, '--until');
  return filter;
}

/** One line per undecodable message: when, the transport, the queue's message id, and why. */
export function formatUndecodable(rows: readonly UndecodableRow[]): string {
  if (rows.length === 0) return 'no undecodable messages\n';
  const lines = rows.map((row) =>
    [row.receivedAt.toISOString(), row.source.padEnd(6), row.messageId, `(${row.reason})`].join('  '),
  );
  return `${lines.join('\n')}\n`;
}

/** One line per delivery: when, status, attempts, execution, phase, destination, and the last error. */
export function formatRows(rows: readonly DeliveryRow[]): string {
  if (rows.length === 0) return 'no deliveries match\n';
  const lines = rows.map((row) =>
    [
      row.lastAttemptAt.toISOString(),
      row.status.padEnd(13),
      `×${row.attempts}`.padEnd(4),
      executionOf(row).padEnd(28),
      (row.phase ?? '').padEnd(9),
      row.label,
      noteOf(row),
    ]
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** `herald deliveries show`: each destination, then every attempt. */
export function formatEvent(eventId: string, rows: readonly DeliveryRow[], attempts: readonly AttemptRow[]): string {
  if (rows.length === 0) return `no deliveries of event ${eventId}\n`;
  const lines = [`event ${eventId}  ${executionOf(rows[0] as DeliveryRow)}  ${rows[0]?.phase ?? ''}`];
  for (const row of rows) {
    lines.push('', `${row.label}: ${row.status} after ${row.attempts} attempt${row.attempts === 1 ? '' : 's'}`);
    if (row.subject) lines.push(`  subject: ${row.subject}`);
    if (row.providerMessageId) lines.push(`  provider id: ${row.providerMessageId}`);
    for (const attempt of attempts.filter((a) => a.destination === row.destination)) {
      const error = attempt.error ? `: ${attempt.error}` : '';
      lines.push(
        `  #${attempt.attempt} ${attempt.startedAt.toISOString()} ${attempt.outcome} (${attempt.owner})${error}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What a row's status leaves unsaid: who silenced it, which digest holds it, the last error. */
function noteOf(row: DeliveryRow): string {
  if (row.status === 'silenced') return `  (silenced by ${row.silenceId})`;
  if (row.status === 'folded') return `  (folded into digest ${row.digestId})`;
  if (row.digestId && row.status === 'delivered') return `  (sent at once; opened digest ${row.digestId})`;
  return row.lastError && row.status !== 'delivered' ? `  (${row.lastError})` : '';
}

function executionOf(row: DeliveryRow): string {
  if (row.eventId.startsWith('digest:')) return `(digest ${row.eventId.slice('digest:'.length)})`;
  return row.project ? `${row.project}/${row.domain}/${row.name}` : '(rendered email)';
}

/** A whole number ≥ 1. @throws UsageError naming the option. */
export function positive(text: string, option: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${option}: expected a whole number ≥ 1, got '${text}'`);
  return value;
}

/** `90s`, `30m`, `2h`, `7d`, `1h30m` → milliseconds; undefined for text that is not such a duration. */
export function durationMs(text: string): number | undefined {
  return parseDuration(text);
}

/** An ISO 8601 time, or a duration back from now: `30m`, `2h`, `7d`. @throws UsageError naming the option. */
export function time(text: string, option: string): Date {
  const ago = durationMs(text);
  if (ago !== undefined) return new Date(Date.now() - ago);
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    throw new UsageError(`${option}: expected an ISO 8601 time or a duration such as 30m, 2h or 7d, got '${text}'`);
  }
  return date;
}
