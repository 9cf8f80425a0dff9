import type { DeliveryReceipt } from './delivery/deliveries.js';
import type { DeadLetterRecord } from './sources/source.js';

/** The lifecycle of messages and deliveries, as typed events. */
export interface ProcessorEventMap {
  message_received: { messageId: string; receiveCount: number };
  /** One destination's delivery went out: what its send reported, and for which message. */
  delivered: DeliveryReceipt & {
    messageId: string;
    eventId: string;
    destination: string;
    durationMs: number;
  };
  duplicate_skipped: { messageId: string; eventId: string; destination: string };
  retry_scheduled: {
    messageId: string;
    eventId: string;
    destinations: string[];
    attempt: number;
    delayMs: number;
    error: string;
  };
  dead_lettered: { messageId: string } & DeadLetterRecord;
  /** One attempt failed: by whom (the emailer, or the kind of destination) and whether it is retried. */
  delivery_failed: {
    messageId: string;
    eventId: string;
    destination: string;
    provider: string;
    retryable: boolean;
    error: string;
  };
  /** A silence muted the delivery: logged `silenced`, not sent. */
  delivery_silenced: { messageId: string; eventId: string; destination: string; label: string; silenceId: string };
  /** The delivery joined a digest (logged `folded` with its id): it goes out with the digest. */
  delivery_folded: { messageId: string; eventId: string; destination: string; label: string; digestId: string };
  /** The delivery's send-once key was sent for another event: logged `suppressed`, not sent. */
  delivery_suppressed: {
    messageId: string;
    eventId: string;
    destination: string;
    label: string;
    onceValue: string;
    sentFor: string;
  };
  /** A digest went out: the notifications of its window, as one message. */
  digest_sent: {
    digestId: string;
    rule: string;
    destination: string;
    label: string;
    provider: string;
    count: number;
    providerMessageId: string;
    durationMs: number;
  };
  /** A digest's send failed; retried after `delayMs`, or given up on (`deadLettered`). */
  digest_failed: {
    digestId: string;
    rule: string;
    destination: string;
    label: string;
    provider: string;
    retryable: boolean;
    attempt: number;
    error: string;
    deadLettered: boolean;
    delayMs: number;
  };
  /** Another copy or replica holds the delivery's claim: this one leaves it to that one. */
  claim_held_elsewhere: { messageId: string; eventId: string; destination: string };
  /** How long the delivery ledger (memory, or its store) took to answer a claim. */
  ledger_answered: { operation: 'claim'; durationMs: number };
  /** A message that asks for nothing by design (a FlyteAdmin node or task event): acked, counted. */
  message_skipped: { messageId: string; reason: string };
  message_settled: { messageId: string; eventId?: string | undefined; outcome: 'acked' | 'retry' };
  /** A source operation failed (receive, ack, retryLater, deadLetter); the message is not lost. */
  source_error: { operation: string; messageId?: string | undefined; error: string };
}

/** One of the event names. */
export type ProcessorEventName = keyof ProcessorEventMap;
type Listener<K extends ProcessorEventName> = (payload: ProcessorEventMap[K]) => void;

/**
 * A minimal typed event emitter. A throwing listener is isolated: it cannot break the pipeline.
 */
export class ProcessorEvents {
  private readonly listeners = new Map<ProcessorEventName, Set<Listener<never>>>();

  on<K extends ProcessorEventName>(name: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends ProcessorEventName>(name: K, payload: ProcessorEventMap[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as Listener<K>)(payload);
      } catch {
        // A listener's bug must not turn into a lost or duplicated notification.
      }
    }
  }
}
