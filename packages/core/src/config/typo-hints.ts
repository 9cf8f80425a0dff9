import type * as z from 'zod';
import type { ConfigProblem } from '../contract/errors.js';
import type { UnknownKeyHint } from '../contract/issues.js';
import { knownKeysAt } from './schema-keys.js';

const KNOWN_TOP_LEVEL = ['notifications', 'herald'];
/**
 * How far a top-level key may be from `notifications` or `herald` to be taken for a typo of it.
 * Kept tight: such a key is an error, and the rest of a FlyteAdmin file must never trip it.
 */
const TOP_LEVEL_DISTANCE = 2;

/**
 * A top-level key that is neither `notifications` nor `herald` is ignored (a file may hold
 * FlyteAdmin's other settings too), but one a letter or two away from them is most likely a
 * typo that would silently drop a whole section: an error, naming the likely key.
 */
export function topLevelTypos(raw: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const key of Object.keys(raw)) {
    if (KNOWN_TOP_LEVEL.includes(key)) continue;
    const near = closestKey(key, KNOWN_TOP_LEVEL, TOP_LEVEL_DISTANCE);
    if (near) problems.push({ path: key, message: `unknown key (did you mean '${near}'?)` });
  }
  return problems;
}

/**
 * Names, for an unknown key anywhere in `input`, the key the schema knows at that place that
 * it most likely misspells.
 */
export function unknownKeyHint(schema: z.core.$ZodType, input: unknown): UnknownKeyHint {
  return (path, key) => {
    const near = closestKey(key, knownKeysAt(schema, input, path));
    return near === undefined ? undefined : `did you mean '${near}'?`;
  };
}

/**
 * The known key nearest to `key`, ignoring case, when it is near enough to be a misspelling:
 * one edit for keys of up to four letters (`url`, `body`), else two, or a third of the key's
 * length for long ones (`maxConcurent` → `maxConcurrency`). The first of equals wins.
 */
export function closestKey(key: string, known: readonly string[], maxDistance?: number): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    const allowed = maxDistance ?? (candidate.length <= 4 ? 1 : Math.max(2, Math.floor(candidate.length / 3)));
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbouring letters (`herlad`) each cost one, as they are each one slip of the keyboard.
 */
function editDistance(a: string, b: string): number {
  // rows[i][j]: the distance between a's first i letters and b's first j.
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1];
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (same ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, at(i - 2, j - 2) + 1);
      }
      (rows[i] as number[])[j] = distance;
    }
  }
  return at(a.length, b.length);
}
