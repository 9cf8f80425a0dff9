import {
  type ExecutionEvent,
  type ExecutionEventInput,
  encodeEvent,
  eventAttributes,
  type MemoryQueue,
  QueueFullError,
} from '@herald/core';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';

/**
 * Publishes into the in-process {@link MemoryQueue} of `type: sandbox`. Never waits on the
 * processor: a full queue refuses at once with `QueueFullError`. A batch is published whole or
 * not at all, so a caller that retries a refused batch sends nothing twice.
 */
export class MemoryPublisher implements Publisher {
  readonly name = 'memory';

  constructor(private readonly queue: MemoryQueue) {}

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    // Validate all first, so a bad event in a batch publishes none of it.
    const complete = prepareEvents(events);
    const room = this.queue.capacity - this.queue.size;
    if (complete.length > room) {
      throw new QueueFullError(
        `in-memory queue is full: room for ${room} of ${complete.length} messages (capacity ${this.queue.capacity}); raise herald.sandbox.queueCapacity`,
      );
    }
    return complete.map((event) => ({
      eventId: event.id,
      messageId: this.queue.send(encodeEvent(event), eventAttributes(event)),
    }));
  }

  async close(): Promise<void> {}
}
