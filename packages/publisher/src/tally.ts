import type { ExecutionEvent } from '@herald/core';
import { PublishError, type PublishedEvent, type UnpublishedEvent } from './errors.js';
import type { PublishResult } from './publisher.js';

/**
 * Accounts for every event of one `publish` call — published with its message id, or not,
 * with why — so that a failure part-way reports exactly what reached the transport. Without
 * it a caller learns only that something failed, retries everything under the impression that
 * nothing was sent, and cannot tell its client which events are out.
 */
export class PublishTally {
  private readonly published = new Map<number, PublishedEvent>();
  private readonly failed = new Map<number, UnpublishedEvent>();

  constructor(private readonly events: readonly ExecutionEvent[]) {}

  /** The transport accepted event `index`. */
  accept(index: number, messageId: string): void {
    this.published.set(index, { index, eventId: this.idOf(index), messageId });
  }

  /** The transport refused event `index`. */
  refuse(index: number, error: string): void {
    this.failed.set(index, { index, eventId: this.idOf(index), error });
  }

  /** Whether any event was refused. */
  get anyRefused(): boolean {
    return this.failed.size > 0;
  }

  /**
   * The error that ends the call: `cause`'s message, and every event accounted for — events
   * neither accepted nor refused were not sent because of `cause`.
   */
  failure(cause: PublishError): PublishError {
    const failed = this.events
      .map((_, index) => this.failed.get(index) ?? (this.published.has(index) ? undefined : this.unsent(index, cause)))
      .filter((f): f is UnpublishedEvent => f !== undefined);
    const published = [...this.published.values()].sort((a, b) => a.index - b.index);
    const detail =
      published.length === 0
        ? ''
        : ` (${published.length} of ${this.events.length} events were published before the failure; ${failed.length} were not)`;
    return new PublishError(`${cause.message}${detail}`, { published, failed, cause });
  }

  /** Every event's result, in order; only valid once each was accepted. */
  results(): PublishResult[] {
    return this.events.map((_, index) => {
      const result = this.published.get(index);
      if (!result) throw new Error(`publish tally: event ${index} was never accounted for`);
      return { eventId: result.eventId, messageId: result.messageId };
    });
  }

  private unsent(index: number, cause: PublishError): UnpublishedEvent {
    return { index, eventId: this.idOf(index), error: cause.message };
  }

  private idOf(index: number): string {
    return (this.events[index] as ExecutionEvent).id;
  }
}
