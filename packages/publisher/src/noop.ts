import type { ExecutionEvent, ExecutionEventInput } from '@herald/core';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';

/**
 * FlyteAdmin's `type: local`: notifications are disabled. Events are still validated, so a
 * misbehaving engine is noticed before notifications are switched on.
 */
export class NoopPublisher implements Publisher {
  readonly name = 'noop';
  /** Nothing is sent, so nothing is too large. */
  readonly maxMessageBytes = undefined;

  check(_events: readonly ExecutionEvent[]): void {}

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    return prepareEvents(events).map((event) => ({ eventId: event.id, messageId: '' }));
  }

  async close(): Promise<void> {}
}
