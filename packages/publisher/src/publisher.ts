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
 * refused at the engine's door with a `DecodeError`, not dead-lettered later; and checks each
 * against the transport's size limit, so an event the transport would refuse stops the batch
 * before any of it is sent (`EventTooLargeError`).
 */
export interface Publisher {
  /** Transport name for logs: `sns`, `pubsub`, `memory`, `noop`. */
  readonly name: string;
  /**
   * The largest message the transport accepts, in bytes, counted the way the transport counts
   * them (SNS: body and message attributes; Pub/Sub: data and attributes); undefined: no limit.
   */
  readonly maxMessageBytes: number | undefined;
  /**
   * Checks complete events (as `prepareEvents` returns them) against the transport's limits,
   * sending nothing. `publish` does the same before it sends anything.
   * @throws EventTooLargeError naming every event over {@link maxMessageBytes}.
   */
  check(events: readonly ExecutionEvent[]): void;
  /**
   * Publishes events in order; resolves when the transport has accepted all of them.
   * @throws DecodeError or EventTooLargeError before anything is sent.
   * @throws PublishError when the transport fails, saying which events were published and which not.
   */
  publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]>;
  close(): Promise<void>;
}
