import {
  type ExecutionEvent,
  type ExecutionEventInput,
  encodeEvent,
  eventAttributes,
  QueueFullError,
} from '@herald/core';
import type { MemoryQueue } from '@herald/core/runtime';
import { checkMessageSizes } from './limits.js';
import { prepareEvents } from './prepare.js';
import type { Publisher, PublishResult } from './publisher.js';

/** Options for {@link MemoryPublisher}. */
export interface MemoryPublisherOptions {
  /**
   * Refuse events whose body is larger than this many bytes, e.g. the limit of the transport a
   * sandbox stands in for, so an event that would not fit there is noticed here.
   * @defaultValue undefined: the in-memory queue takes any size.
   */
  maxMessageBytes?: number | undefined;
}

/**
 * Publishes into the in-process {@link MemoryQueue} of `type: sandbox`. Never waits on the
 * processor: a full queue refuses at once with `QueueFullError`. A batch is published whole or
 * not at all, so a caller that retries a refused batch sends nothing twice.
 */
export class MemoryPublisher implements Publisher {
  readonly name = 'memory';
  readonly maxMessageBytes: number | undefined;

  constructor(
    private readonly queue: MemoryQueue,
    options: MemoryPublisherOptions = {},
  ) {
    this.maxMessageBytes = options.maxMessageBytes;
  }

  check(events: readonly ExecutionEvent[]): void {
    const limit = `the in-memory queue's limit of ${this.maxMessageBytes} bytes per message`;
    checkMessageSizes(events, this.maxMessageBytes, limit, (event) => Buffer.byteLength(encodeEvent(event)));
  }

  async publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    // Validate all first, so a bad event in a batch publishes none of it.
    const complete = prepareEvents(events);
    this.check(complete);
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
