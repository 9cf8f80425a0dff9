import { hostname, userInfo } from 'node:os';
import { GlobError } from '@herald/core';
import { compileGlob } from '@herald/core/config';
import { SILENCE_FIELDS, type Silence, type SilenceField, type SilenceMatcher } from '@herald/store';
import { UsageError } from '../errors.js';
import { durationMs } from './deliveries.js';

/** `project=flytesnacks`, `workflow=core.ml.*` → a matcher. @throws UsageError naming the option. */
export function parseMatcher(text: string): SilenceMatcher {
  const at = text.indexOf('=');
  const field = text.slice(0, Math.max(0, at)).trim();
  const pattern = text.slice(at + 1).trim();
  if (at < 0 || !(SILENCE_FIELDS as readonly string[]).includes(field) || pattern === '') {
    throw new UsageError(
      `--match: expected FIELD=PATTERN with FIELD one of ${SILENCE_FIELDS.join(', ')} and a glob pattern (*, ?, {a,b}, [abc]), got '${text}'`,
    );
  }
  try {
    compileGlob(pattern);
  } catch (err) {
    if (err instanceof GlobError) throw new UsageError(`--match: ${field} pattern '${pattern}' is ${err.message}`);
    throw err;
  }
  return { field: field as SilenceField, pattern };
}

/** `30m`, `2h`, `7d` → milliseconds. @throws UsageError naming the option. */
export function duration(text: string, option: string): number {
  const ms = durationMs(text) ?? 0;
  if (ms <= 0) throw new UsageError(`${option}: expected a duration such as 30m, 2h or 7d, got '${text}'`);
  return ms;
}

/** The silence `herald silences add` asks for: every matcher, for how long, why and by whom. */
export function silenceToAdd(options: {
  match: string[];
  for: string;
  comment: string;
  by?: string | undefined;
}): Omit<Silence, 'id'> {
  if (options.match.length === 0)
    throw new UsageError('--match: give at least one (a silence of everything is not one)');
  if (options.comment.trim() === '') throw new UsageError('--comment: say why, for whoever finds it later');
  const startsAt = new Date();
  return {
    matchers: options.match.map(parseMatcher),
    comment: options.comment.trim(),
    createdBy: options.by ?? `${userInfo().username}@${hostname()}`,
    startsAt,
    endsAt: new Date(startsAt.getTime() + duration(options.for, '--for')),
  };
}

/** One line per silence: id, until when, what it matches, why and who. */
export function formatSilences(silences: readonly Silence[], now = new Date()): string {
  if (silences.length === 0) return 'no silences\n';
  const lines = silences.map((s) =>
    [
      s.id,
      (s.endsAt > now ? `until ${s.endsAt.toISOString()}` : `ended ${s.endsAt.toISOString()}`).padEnd(30),
      s.matchers.map((m) => `${m.field}=${m.pattern}`).join(' '),
      `(${s.comment}, ${s.createdBy})`,
    ].join('  '),
  );
  return `${lines.join('\n')}\n`;
}
