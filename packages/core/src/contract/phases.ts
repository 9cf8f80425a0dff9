/**
 * The ten workflow execution phases, named as Flyte names them.
 * The order is Flyte's enum order, which some users rely on when sorting.
 */
export const PHASES = [
  'UNDEFINED',
  'QUEUED',
  'RUNNING',
  'SUCCEEDING',
  'SUCCEEDED',
  'FAILING',
  'FAILED',
  'ABORTED',
  'TIMED_OUT',
  'ABORTING',
] as const;

/** One workflow execution phase. */
export type Phase = (typeof PHASES)[number];

/** Phases after which an execution never changes again; Flyte only notifies on these. */
export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set<Phase>(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** True when the phase is one an execution ends in. */
export function isTerminalPhase(phase: Phase): boolean {
  return TERMINAL_PHASES.has(phase);
}

/** True when `value` is one of the ten phase names (case-sensitive, as on the wire). */
export function isPhase(value: unknown): value is Phase {
  return typeof value === 'string' && (PHASES as readonly string[]).includes(value);
}
