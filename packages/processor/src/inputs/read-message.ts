import { decodeEvent } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import type { CodeRule } from '../delivery/code-rules.js';
import { type BoundDelivery, type DeliveryParts, eventDeliveries } from '../delivery/deliveries.js';
import { routeEvent } from '../delivery/route.js';
import type { ReceivedMessage } from '../sources/source.js';

/** What one message asks for: an identity for the ledger and dead letters, and its deliveries. */
export interface MessageWork {
  /** The event's id, or for an email that arrived rendered, one derived from its bytes. */
  readonly id: string;
  readonly deliveries: BoundDelivery[];
}

/** A message read: work to do, or one that asks for nothing by design (counted, not dead-lettered). */
export type ReadOutcome = { kind: 'work'; work: MessageWork } | { kind: 'skipped'; reason: string };

/** What reading needs: how to route an event and what its deliveries are made of. */
export interface ReaderParts extends DeliveryParts {
  config: Pick<ResolvedConfig, 'emailer' | 'rules'>;
  codeRules: readonly CodeRule[];
}

/**
 * Reads a message into the deliveries it asks for.
 * @throws DecodeError naming what is wrong: the message is dead-lettered with it.
 */
export function readMessage(message: ReceivedMessage, parts: ReaderParts): ReadOutcome {
  const event = decodeEvent(message.body);
  const destinations = routeEvent(event, parts.config, parts.channels, parts.codeRules);
  return { kind: 'work', work: { id: event.id, deliveries: eventDeliveries(event, destinations, parts) } };
}
