import { formatDurationText } from '@herald/core/config';
import {
  type DeliveryRow,
  DIGEST_STATUSES,
  type DigestContents,
  type DigestFilter,
  type DigestRow,
} from '@herald/store';
import { UsageError } from '../errors.js';
import { positive } from './deliveries.js';

/** `herald digests list` options → the store's filter. @throws UsageError naming a bad option. */
export function digestFilter(options: { status?: string; limit?: string }): DigestFilter {
  const filter: DigestFilter = { limit: positive(options.limit ?? '100', '--limit') };
  if (options.status) {
    if (!(DIGEST_STATUSES as readonly string[]).includes(options.status)) {
      throw new UsageError(`--status: expected one of ${DIGEST_STATUSES.join(', ')}, got '${options.status}'`);
    }
    filter.status = options.status as DigestFilter['status'];
  }
  return filter;
}

/** One line per digest: opened, status, events held, rule and group, destination, when due. */
export function formatDigests(rows: readonly DigestRow[]): string {
  if (rows.length === 0) return 'no digests\n';
  const lines = rows.map((row) =>
    [
      row.openedAt.toISOString(),
      row.id,
      row.status.padEnd(13),
      `${row.members} event${row.members === 1 ? '' : 's'}`.padEnd(10),
      `${row.kind === 'overdue' ? 'expect of ' : ''}${row.rule}${groupOf(row)}`,
      row.label,
      row.status === 'open' ? `due ${row.dueAt.toISOString()}` : '',
    ]
      .join('  ')
      .trimEnd(),
  );
  return `${lines.join('\n')}\n`;
}

/** `herald digests show`: the digest, its delivery, and the events it holds. */
export function formatDigest(digest: DigestContents, delivery: DeliveryRow | undefined): string {
  const lines = [
    `${digest.kind === 'overdue' ? 'still-running alert' : 'digest'} ${digest.id}  rule ${digest.rule}${groupOf(digest)}  ${digest.label}`,
    `  ${digest.status}; window ${formatDurationText(digest.windowMs)} from ${digest.openedAt.toISOString()}` +
      (digest.closedAt ? `, closed ${digest.closedAt.toISOString()}` : `, due ${digest.dueAt.toISOString()}`),
  ];
  if (digest.openerEventId) lines.push(`  opened by event ${digest.openerEventId}, sent at once`);
  if (delivery) {
    const error = delivery.lastError && delivery.status !== 'delivered' ? ` (${delivery.lastError})` : '';
    lines.push(
      `  sent: ${delivery.status} after ${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}${error}`,
    );
  }
  lines.push('', `${digest.events.length} event${digest.events.length === 1 ? '' : 's'}:`);
  for (const held of digest.events) {
    const event = JSON.parse(held.event) as {
      phase?: string;
      execution?: { project: string; domain: string; name: string };
    };
    const execution = event.execution
      ? `${event.execution.project}/${event.execution.domain}/${event.execution.name}`
      : '';
    lines.push(`  ${held.joinedAt.toISOString()}  ${held.eventId}  ${execution}  ${event.phase ?? ''}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

function groupOf(row: Pick<DigestRow, 'group'>): string {
  const values = Object.entries(row.group).map(([field, value]) => `${field}=${value}`);
  return values.length > 0 ? ` (${values.join(' ')})` : '';
}
