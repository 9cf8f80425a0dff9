import {
  type ExecutionEvent,
  type ExecutionEventInput,
  encodeEvent,
  eventAttributes,
  QueueFullError,
} from '@herald/core';
import type { MemoryQueue } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
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
  /** Traces each publish; the queue's messages carry the trace context, as a real queue's would. */
  tracing?: Tracing | undefined;
}

/**
 * Publishes into the in-process {@link MemoryQueue} of `type: sandbox`. Never waits on the
 * processor: a full queue refuses at once with `QueueFullError`. A batch is published whole or
 * not at all, so a caller that retries a refused batch sends nothing twice.
 */
export class MemoryPublisher implements Publisher {
  readonly name = 'memory';
  readonly maxMessageBytes: number | undefined;
  private readonly tracing: Tracing | undefined;

  constructor(
    private readonly queue: MemoryQueue,
    options: MemoryPublisherOptions = {},
  ) {
    this.maxMessageBytes = options.maxMessageBytes;
    this.tracing = options.tracing;
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
    const traced = this.tracing?.startPublish(
      'herald.memory',
      'herald-sandbox',
      complete.map((event) => event.id),
    );
    const results = complete.map((event, index) => {
      const messageId = this.queue.send(encodeEvent(event), { ...eventAttributes(event), ...traced?.headers(index) });
      traced?.published(index, messageId);
      return { eventId: event.id, messageId };
    });
    traced?.end();
    return results;
  }

  async close(): Promise<void> {}
}
