import type { ExecutionEvent } from '@herald/core';

/**
 * A rule written in code, for library users: Prefect's `callback_factory(fn, check)`. `check`
 * sees the event (with its previous phase); `deliver` does whatever it wants, asynchronously.
 */
export interface CodeRule {
  name: string;
  check: (event: ExecutionEvent) => boolean | Promise<boolean>;
  deliver: (event: ExecutionEvent, options: { signal: AbortSignal }) => Promise<void>;
}

/**
 * Declares a code rule. An exception thrown by `check` or `deliver` is contained: it is
 * reported and retried like any delivery failure, and never takes the processor down.
 *
 * @example
 * createProcessor(config, {
 *   codeRules: [when((e) => e.phase === 'FAILED' && e.previousPhase === 'RUNNING', async (e) => page(e), 'page-me')],
 * });
 */
export function when(check: CodeRule['check'], deliver: CodeRule['deliver'], name = 'code-rule'): CodeRule {
  return { name, check, deliver };
}
