import type { ExecutionEvent } from '@herald/core';
import { EventTooLargeError, type OversizeEvent } from './errors.js';

/**
 * Checks every event against a transport's size limit before any is sent, so a batch with one
 * oversize event publishes none of it.
 * @param limit names the limit in the error, e.g. `SNS's limit of 262144 bytes per message
 *   (body and attributes)`.
 * @param sizeOf the event's size as the transport counts it.
 * @throws EventTooLargeError naming every oversize event: index, id, size and limit.
 */
export function checkMessageSizes(
  events: readonly ExecutionEvent[],
  maxBytes: number | undefined,
  limit: string,
  sizeOf: (event: ExecutionEvent) => number,
): void {
  if (maxBytes === undefined) return;
  const oversize: OversizeEvent[] = [];
  events.forEach((event, index) => {
    const bytes = sizeOf(event);
    if (bytes <= maxBytes) return;
    oversize.push({
      index,
      eventId: event.id,
      bytes,
      maxBytes,
      reason: `event [${index}] (id ${event.id}) is ${bytes} bytes, over ${limit}`,
    });
  });
  if (oversize.length > 0) throw new EventTooLargeError(oversize);
}
