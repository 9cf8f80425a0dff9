import type { ExecutionEvent, ExecutionEventInput } from '@herald/core';

/** What became of one published event. */
export interface PublishResult {
  /** The event's id (filled in when the caller left it out). */
  eventId: string;
  /** The transport's message id (SNS MessageId, Pub/Sub message id, in-memory id). */
  messageId: string;
}

/**
 * Puts execution events on a queue. Publishing validates each event first, so a bad event is
 * refused at the engine's door with a `DecodeError`, not dead-lettered later.
 */
export interface Publisher {
  /** Transport name for logs: `sns`, `pubsub`, `memory`, `noop`. */
  readonly name: string;
  /** Publishes events in order; resolves when the transport has accepted all of them. */
  publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]>;
  close(): Promise<void>;
}
