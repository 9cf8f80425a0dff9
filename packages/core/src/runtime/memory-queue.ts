import { QueueFullError } from '../contract/errors.js';

/** A message as the in-memory queue holds it. */
export interface MemoryQueueMessage {
  readonly id: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** How many times it has been handed to a consumer, this time included (SQS's ApproximateReceiveCount). */
  receiveCount: number;
}

/**
 * The queue behind `type: sandbox`: publisher and processor in one process.
 *
 * - Bounded: a message counts against `capacity` from `send` until `ack`; a full queue refuses
 *   at once with {@link QueueFullError}, so a publisher never waits on the processor.
 * - A received message is invisible until it is acked or handed back with `release`, which
 *   can delay its return (retry with backoff).
 */
export class MemoryQueue {
  private readonly visible: MemoryQueueMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly delayed = new Map<NodeJS.Timeout, MemoryQueueMessage>();
  private held = 0;

  constructor(readonly capacity: number) {}

  /** Messages accepted and not yet acked: visible, received, or waiting to come back. */
  get size(): number {
    return this.held;
  }

  /**
   * Adds a message and returns its id.
   * @throws QueueFullError when `capacity` messages are already held.
   */
  send(body: string, attributes: Record<string, string> = {}): string {
    if (this.held >= this.capacity) {
      throw new QueueFullError(
        `in-memory queue is full (${this.capacity} messages); raise herald.sandbox.queueCapacity`,
      );
    }
    const message: MemoryQueueMessage = {
      // Web Crypto's, global: importing node:crypto would cost every command's start-up.
      id: globalThis.crypto.randomUUID(),
      body,
      attributes: { ...attributes },
      receiveCount: 0,
    };
    this.held++;
    this.makeVisible(message);
    return message.id;
  }

  /**
   * Takes up to `max` visible messages, waiting until at least one is visible or `signal`
   * aborts (then it returns what it has, possibly nothing).
   */
  async receive(max: number, signal?: AbortSignal): Promise<MemoryQueueMessage[]> {
    while (this.visible.length === 0) {
      if (signal?.aborted) return [];
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    const taken = this.visible.splice(0, max);
    for (const message of taken) message.receiveCount++;
    return taken;
  }

  /** Removes a received message for good. */
  ack(_message: MemoryQueueMessage): void {
    this.held--;
  }

  /** Hands a received message back, visible again after `delayMs`. */
  release(message: MemoryQueueMessage, delayMs = 0): void {
    if (delayMs <= 0) {
      this.makeVisible(message);
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.makeVisible(message);
    }, delayMs);
    this.delayed.set(timer, message);
  }

  /** Makes every message waiting out a retry delay visible now; returns how many. */
  releaseDelayedNow(): number {
    const count = this.delayed.size;
    for (const [timer, message] of this.delayed) {
      clearTimeout(timer);
      this.makeVisible(message);
    }
    this.delayed.clear();
    return count;
  }

  private makeVisible(message: MemoryQueueMessage): void {
    this.visible.push(message);
    for (const wake of [...this.waiters]) wake();
  }
}
