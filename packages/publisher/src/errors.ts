import { HeraldError } from '@herald/core';
import type { PublishResult } from './publisher.js';

/** One event of a batch that was published: its place in the batch, its id and message id. */
export interface PublishedEvent extends PublishResult {
  /** Position of the event in the list given to `publish`, from 0. */
  index: number;
}

/** One event of a batch that was not published, and why. */
export interface UnpublishedEvent {
  /** Position of the event in the list given to `publish`, from 0. */
  index: number;
  eventId: string;
  /** What the transport answered, or why the event was not attempted. */
  error: string;
}

/**
 * A publish that the transport refused or failed, in whole or in part. When thrown by
 * `Publisher.publish`, it accounts for every event of the call: which were published (with
 * their message ids) and which were not, so a caller can retry only the rest — retrying all is
 * harmless too, since an event published again keeps its id and is delivered once.
 */
export class PublishError extends HeraldError {
  override name = 'PublishError';
  /** Events the transport accepted before the failure. */
  readonly published: readonly PublishedEvent[];
  /** Events the transport did not accept. */
  readonly failed: readonly UnpublishedEvent[];

  constructor(
    message: string,
    options: { published?: readonly PublishedEvent[]; failed?: readonly UnpublishedEvent[]; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.published = options.published ?? [];
    this.failed = options.failed ?? [];
  }
}

/** An event larger than its transport accepts. */
export interface OversizeEvent {
  /** Position of the event in the list given to `publish` or `check`, from 0. */
  index: number;
  eventId: string;
  /** The event's size as the transport counts it (see `Publisher.maxMessageBytes`). */
  bytes: number;
  /** The transport's limit. */
  maxBytes: number;
  /** One sentence naming the event, its size and the limit. */
  reason: string;
}

/**
 * Events over the transport's message size limit. Raised before anything is sent, so none of
 * the batch is published. Permanent: the same event will never fit.
 */
export class EventTooLargeError extends HeraldError {
  override name = 'EventTooLargeError';
  readonly events: readonly OversizeEvent[];

  constructor(events: readonly OversizeEvent[]) {
    super(events.map((e) => e.reason).join('; '));
    this.events = events;
  }
}
