import type { MessageOrigin } from '@herald/core/tracing';

/** A message as a {@link Source} hands it to the pipeline. */
export interface ReceivedMessage {
  /** The transport's id for this message (SQS MessageId, Pub/Sub id, in-memory id). */
  readonly id: string;
  readonly body: string | Uint8Array;
  readonly attributes: Readonly<Record<string, string>>;
  /** How many times the transport has delivered it, this time included; 1 the first time. */
  readonly receiveCount: number;
}

/** Why a message (or one of its deliveries) went to the dead-letter destination. */
export interface DeadLetterRecord {
  kind: 'undecodable' | 'permanent-failure' | 'attempts-exhausted' | 'shutdown';
  reason: string;
  eventId?: string;
  /** The destination that failed, when only one of the message's deliveries did. */
  destination?: string;
}

/** Attributes a dead-lettered copy carries, on every transport. */
export const DEAD_LETTER_ATTRIBUTES = {
  reason: 'herald.reason',
  kind: 'herald.kind',
  eventId: 'herald.eventId',
  destination: 'herald.destination',
  sourceMessageId: 'herald.sourceMessageId',
} as const;

/**
 * Where messages come from and how they are settled: one implementation per transport
 * (SQS, Pub/Sub subscription, in-memory). A source keeps a received message alive (visibility,
 * lease) until one of `ack` or `retryLater` is called for it. `M` is the source's own message
 * type, carrying what it needs to settle one (a receipt handle, the library's message object):
 * the pipeline hands back exactly what `receive` gave it.
 */
export interface Source<M extends ReceivedMessage = ReceivedMessage> {
  /** Transport name for logs: `memory`, `sqs`, `pubsub`. */
  readonly name: string;
  /** What the messages' traces call this source: its messaging system and queue or subscription. */
  readonly origin?: MessageOrigin;
  /** Most messages one `receive` returns (SQS: 10). */
  readonly maxBatch: number;
  /** How many `receive` calls the processor keeps open at once. @defaultValue 1 */
  readonly receiveConcurrency?: number;
  /**
   * How many free slots a receive waits for before it asks. A source whose every receive is a
   * paid round trip (SQS) asks for full batches; one that hands out messages it already holds
   * asks as soon as one slot is free. @defaultValue 1
   */
  readonly receiveBatch?: number;
  /** Connects and checks that the queue exists; called once before the first `receive`. */
  start?(): Promise<void>;
  /**
   * Up to `max` messages; waits (long-polls) until at least one arrives or `signal` aborts,
   * then returns what it has, possibly nothing.
   */
  receive(max: number, signal: AbortSignal): Promise<M[]>;
  /** Done with it: delete / ack. */
  ack(message: M): Promise<void>;
  /** Not done: make it come back after `delayMs`. */
  retryLater(message: M, delayMs: number): Promise<void>;
  /**
   * Record a copy, with the reason, at the dead-letter destination. Does not settle the
   * message: the pipeline acks it afterwards, so nothing is removed before it is recorded.
   */
  deadLetter(message: M, record: DeadLetterRecord): Promise<void>;
  /** Stop and release resources; messages not yet handled are handed back or recorded. */
  close(): Promise<void>;
}
