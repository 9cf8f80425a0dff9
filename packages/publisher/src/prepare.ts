import {
  completeEvent,
  DecodeError,
  type ExecutionEvent,
  type ExecutionEventInput,
  PHASES,
  TERMINAL_PHASES,
} from '@herald/core';

/**
 * What every publisher does before sending: fill in the missing envelope fields, validate, and
 * enforce Flyte's rule that notifications are attached to terminal phases only — a
 * notification on RUNNING would fire on every run, which is never what was meant.
 * @throws DecodeError naming the first bad event's fields; nothing of the batch is published.
 */
export function prepareEvents(events: readonly (ExecutionEventInput | ExecutionEvent)[]): ExecutionEvent[] {
  return events.map((input) => {
    const event = completeEvent(input);
    const problems: string[] = [];
    event.notifications?.forEach((notification, i) => {
      notification.phases.forEach((phase, j) => {
        if (!TERMINAL_PHASES.has(phase)) {
          problems.push(
            `notifications[${i}].phases[${j}]: ${phase} is not a terminal phase (expected one of ${PHASES.filter((p) => TERMINAL_PHASES.has(p)).join(', ')})`,
          );
        }
      });
    });
    if (problems.length > 0) throw new DecodeError(problems);
    return event;
  });
}
