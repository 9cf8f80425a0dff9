import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { MemoryQueue, MemoryQueueMessage } from '@herald/core/runtime';
import type { MessageOrigin } from '@herald/core/tracing';
import type { DeadLetterRecord, ReceivedMessage, Source } from './source.js';

/** A dead-lettered message as the memory source records it (one JSON line each). */
export interface MemoryDeadLetter extends DeadLetterRecord {
  messageId: string;
  time: string;
  body: string;
}

/** Options for {@link MemorySource}. */
export interface MemorySourceOptions {
  /** JSON-lines file that dead-lettered messages are appended to; none keeps them in memory only. */
  deadLetterFile?: string;
}

/** A message taken from the in-process queue: the queue's own entry settles it. */
export interface MemoryReceived extends ReceivedMessage {
  readonly queued: MemoryQueueMessage;
}

/** The source of `type: sandbox`: reads the in-process {@link MemoryQueue}. */
export class MemorySource implements Source<MemoryReceived> {
  readonly name = 'memory';
  readonly origin: MessageOrigin = { system: 'herald.memory', destination: 'herald-sandbox' };
  readonly maxBatch = 100;
  /** Everything dead-lettered so far, in order. */
  readonly deadLettered: MemoryDeadLetter[] = [];
  private readonly deadLetterFile: string | undefined;
  private dirReady: Promise<unknown> | undefined;

  constructor(
    private readonly queue: MemoryQueue,
    options: MemorySourceOptions = {},
  ) {
    this.deadLetterFile = options.deadLetterFile;
  }

  async receive(max: number, signal: AbortSignal): Promise<MemoryReceived[]> {
    const taken = await this.queue.receive(max, signal);
    return taken.map(
      (queued): MemoryReceived => ({
        id: queued.id,
        body: queued.body,
        attributes: queued.attributes,
        receiveCount: queued.receiveCount,
        queued,
      }),
    );
  }

  async ack({ queued }: MemoryReceived): Promise<void> {
    this.queue.ack(queued);
  }

  async retryLater({ queued }: MemoryReceived, delayMs: number): Promise<void> {
    this.queue.release(queued, delayMs);
  }

  async deadLetter(message: MemoryReceived, record: DeadLetterRecord): Promise<void> {
    const body = typeof message.body === 'string' ? message.body : Buffer.from(message.body).toString('utf8');
    const entry: MemoryDeadLetter = { ...record, messageId: message.id, time: new Date().toISOString(), body };
    if (this.deadLetterFile) {
      this.dirReady ??= mkdir(dirname(this.deadLetterFile), { recursive: true });
      await this.dirReady;
      await appendFile(this.deadLetterFile, `${JSON.stringify(entry)}\n`);
    }
    this.deadLettered.push(entry);
  }

  /**
   * An in-memory queue dies with the process, so whatever is still queued is recorded in the
   * dead-letter file (kind `shutdown`) rather than silently dropped.
   */
  async close(): Promise<void> {
    this.queue.releaseDelayedNow();
    const controller = new AbortController();
    controller.abort();
    for (;;) {
      const left = await this.receive(this.maxBatch, controller.signal);
      if (left.length === 0) break;
      for (const message of left) {
        await this.deadLetter(message, {
          kind: 'shutdown',
          reason: 'processor stopped before this message was delivered',
        });
        await this.ack(message);
      }
    }
  }
}
