/** Units a duration is written in: `500ms`, `30s`, `10m`, `2h`, `7d`, and runs of them (`1h30m`). */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const PART = /(\d+)(ms|s|m|h|d)/g;

/**
 * A duration as written in the config and on the command line, in milliseconds; undefined when
 * the text is not one. Bare numbers are refused: `30` could be seconds or minutes.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART))
    total += Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return total;
}

/** `1_800_000` → `30m`, `5_400_000` → `1h30m`: the shortest form {@link parseDuration} reads back. */
export function formatDurationText(ms: number): string {
  if (ms <= 0) return '0s';
  let left = Math.round(ms);
  let text = '';
  for (const [unit, size] of [
    ['d', UNIT_MS.d],
    ['h', UNIT_MS.h],
    ['m', UNIT_MS.m],
    ['s', UNIT_MS.s],
    ['ms', UNIT_MS.ms],
  ] as const) {
    if (left >= size) {
      text += `${Math.floor(left / size)}${unit}`;
      left %= size;
    }
  }
  return text;
}
