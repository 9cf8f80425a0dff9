import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What {@link account} counts, at the receiving end. */
export interface Tally {
  /** Keys (events, or messages) put on the queue. */
  published: number;
  /** Distinct keys received by the email server. */
  delivered: number;
  /** Distinct keys found in the dead-letter queue. */
  deadLettered: number;
  /** Published, yet neither received nor dead-lettered. */
  lost: number;
  /** Emails received beyond the first per key (one destination per event here). */
  duplicated: number;
  /** Keys published but neither received nor dead-lettered. */
  lostKeys: string[];
  /** Keys both received and dead-lettered: recorded as failed although someone got the email. */
  deliveredAndDeadLettered: string[];
  /** Receptions of keys that were never published (e.g. a recipient smuggled in by an event). */
  unexpected: string[];
}

/** What one fault scenario measured: its tally, how long it took, and what to know about the run. */
export interface Figures extends Tally {
  scenario: string;
  durationMs: number;
  /** The fault's own parameters and anything worth a second look (kills, outage seconds, …). */
  notes: string;
}

/**
 * Accounts for every published key (an event id, or a queue message id) at the receiving end.
 * @param received one key per email received (a key twice is a duplicate).
 * @param deadLettered one key per dead-letter record.
 */
export function account(
  published: readonly string[],
  received: readonly string[],
  deadLettered: readonly string[],
): Tally {
  const publishedSet = new Set(published);
  const receivedSet = new Set(received);
  const deadSet = new Set(deadLettered);
  const lostKeys = published.filter((key) => !receivedSet.has(key) && !deadSet.has(key));
  return {
    published: publishedSet.size,
    delivered: [...receivedSet].filter((key) => publishedSet.has(key)).length,
    deadLettered: [...deadSet].filter((key) => publishedSet.has(key)).length,
    lost: lostKeys.length,
    duplicated: received.length - receivedSet.size,
    lostKeys,
    deliveredAndDeadLettered: [...receivedSet].filter((key) => deadSet.has(key)),
    unexpected: [...receivedSet].filter((key) => !publishedSet.has(key)),
  };
}

/** Writes one scenario's figures where the end-of-run report (report.ts) finds them; a re-run replaces them. */
export async function recordFigures(directory: string, figures: Figures): Promise<void> {
  await mkdir(directory, { recursive: true });
  const file = join(directory, `${figures.scenario.replace(/\W+/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(figures, null, 2)}\n`);
}

/** Every scenario's figures recorded in `directory`, in scenario order. */
export async function readFigures(directory: string): Promise<Figures[]> {
  let files: string[];
  try {
    files = (await readdir(directory)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const all = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(directory, f), 'utf8')) as Figures),
  );
  return all.sort((a, b) => a.scenario.localeCompare(b.scenario));
}

/** One plain-text table, one row per scenario. */
export function formatTable(rows: readonly Figures[]): string {
  const header = ['scenario', 'published', 'delivered', 'dead-lettered', 'lost', 'duplicated', 'duration', 'notes'];
  const cells = rows.map((r) => [
    r.scenario,
    String(r.published),
    String(r.delivered),
    String(r.deadLettered),
    String(r.lost),
    String(r.duplicated),
    `${(r.durationMs / 1000).toFixed(1)} s`,
    r.notes,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const numeric = (i: number) => i >= 1 && i <= 6;
  const line = (c: readonly string[]) =>
    c
      .map((cell, i) => (numeric(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
