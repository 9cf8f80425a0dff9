import { HeraldError } from '@herald/core/errors';

/** The command line was used wrongly (bad flag, unreadable event file): exit status 2. */
export class UsageError extends HeraldError {
  override name = 'UsageError';
}

/** Exit statuses of every herald command. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
