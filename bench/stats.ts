/** Small helpers the benchmarks share for reading their rounds. */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The median; for an even count, the mean of the two middle values. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/**
 * A full garbage collection, without node having been started with --expose-gc: a run that
 * calls it before its CPU is read, at its start and at its end, pays for all its own garbage
 * and none of another run's.
 */
export const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
