const KNOWN_TOP_LEVEL = ['notifications', 'herald'];

/**
 * A top-level key that is neither `notifications` nor `herald` is ignored (a file may hold
 * FlyteAdmin's other settings too), but one a letter or two away from them is most likely a
 * typo that would lose a whole section: warned about, naming the likely key.
 */
export function topLevelTypoWarnings(raw: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (KNOWN_TOP_LEVEL.includes(key)) continue;
    const near = KNOWN_TOP_LEVEL.find((known) => editDistance(key.toLowerCase(), known) <= 2);
    if (near) warnings.push(`${key}: unknown top-level key ignored (did you mean '${near}'?)`);
  }
  return warnings;
}

/** Levenshtein distance: insertions, deletions and substitutions each cost one. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}
