import { backoffDelayMs, type Logger, settlesWithin } from '@herald/core/runtime';
import type { DigestSender } from '../delivery/digest-sender.js';
import type { DeliveryLedger } from '../delivery/ledger.js';
import type { Pipeline } from '../delivery/pipeline.js';
import type { ProcessorEvents } from '../events.js';
import type { Source } from '../sources/source.js';
import { InFlightLimiter } from './flow-control.js';

/** Options for {@link Processor}. */
export interface ProcessorOptions {
  source: Source;
  pipeline: Pipeline;
  events: ProcessorEvents;
  logger: Logger;
  /** Messages handled at once. */
  maxInFlight: number;
  /** How long `stop` lets in-flight messages finish before cancelling them. */
  shutdownGraceMs: number;
  /** Aborting it cancels in-flight sends; the same signal the pipeline was built with. */
  shutdown: AbortController;
  /**
   * Wait after a failed receive, doubling (with jitter) up to 30 s, so a broken connection is
   * not hammered.
   * @defaultValue 1000
   */
  receiveRetryBaseMs?: number;
  /**
   * Closed last, once nothing sends or renders any more: what the processor opened for its
   * deliveries (the emailer's connections, the worker of templates carried on events). A pooled
   * SMTP connection left open would keep the process alive after it stopped.
   */
  closeWhenStopped?: readonly { close(): Promise<void> }[];
  /** Parts to start before the first receive (the delivery store: connect, migrate). */
  startFirst?: readonly { start(): Promise<void> }[];
  /** The ledger the pipeline claims and records deliveries in, for those who read it (metrics). */
  ledger?: DeliveryLedger;
  /** Sends the digests that are due (with a store). */
  digests?: DigestSender | undefined;
}

/**
 * Receives that fail in a row before the queue counts as unreachable. Each one has already been
 * retried by the transport's client (the SQS client tries 5 times), so three mean the queue is
 * really gone, not that one connection was reset.
 */
const UNREACHABLE_AFTER_FAILED_RECEIVES = 3;

/** Longest wait between failed receives: a queue that comes back is noticed within this. */
const RECEIVE_RETRY_MAX_MS = 30_000;

/**
 * Runs the receive loop: keeps up to `maxInFlight` messages in the pipeline, asking the source
 * for more only when slots are free (backpressure), and survives receive failures with backoff.
 */
export class Processor {
  private readonly limiter: InFlightLimiter;
  private readonly stopReceiving = new AbortController();
  private loops: Promise<void> | undefined;
  /** Messages not yet settled, including those whose slot was already freed. */
  private readonly handling = new Set<Promise<void>>();
  private stopping: Promise<void> | undefined;
  /** Receives failed in a row, across the receive loops; reset by any receive that answers. */
  private failedReceives = 0;

  /** Free slots each receive loop waits for before it asks the source for more. */
  private readonly receiveBatch: number;

  constructor(private readonly options: ProcessorOptions) {
    this.limiter = new InFlightLimiter(options.maxInFlight);
    const { source, maxInFlight } = options;
    const loops = Math.max(1, source.receiveConcurrency ?? 1);
    // At most half a loop's share of the slots: every loop can always be satisfied, and with a
    // small maxInFlight the slots left empty while a batch gathers stay few (measured in
    // bench/consumers.ts: 64 in flight, 4 loops → batches of 8, ~0.25 SQS calls per event
    // instead of ~0.65, at the same share of the Little's-law bound).
    this.receiveBatch = Math.max(1, Math.min(source.receiveBatch ?? 1, Math.floor(maxInFlight / (2 * loops))));
  }

  /** The lifecycle events of every message. */
  get events(): ProcessorEvents {
    return this.options.events;
  }

  /**
   * False once several receives in a row have failed, true again as soon as one answers: what
   * a readiness check reports, so an orchestrator sees a replica that cannot reach its queue.
   */
  get queueReachable(): boolean {
    return this.failedReceives < UNREACHABLE_AFTER_FAILED_RECEIVES;
  }

  /** Messages currently in the pipeline. */
  get inFlight(): number {
    return this.limiter.inFlight;
  }

  /** What sends its due digests, when it has a store. */
  get digests(): DigestSender | undefined {
    return this.options.digests;
  }

  /** The delivery ledger its pipeline uses (a StoreLedger when a store is configured). */
  get ledger(): DeliveryLedger | undefined {
    return this.options.ledger;
  }

  /**
   * Connects the source (checks that its queue exists), then starts receiving. Idempotent.
   * @throws whatever the source's start-up check throws (e.g. a queue that does not exist).
   */
  async start(): Promise<void> {
    if (this.loops) return;
    for (const part of this.options.startFirst ?? []) await part.start();
    await this.options.source.start?.();
    const concurrency = Math.max(1, this.options.source.receiveConcurrency ?? 1);
    this.loops ??= Promise.all(Array.from({ length: concurrency }, () => this.run())).then(() => {});
  }

  /**
   * Stops receiving, lets in-flight messages finish for up to `shutdownGraceMs`, then cancels
   * the rest (they are handed back to the queue as retries), and closes the source.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  /** Resolves when no message is in flight. */
  idle(): Promise<void> {
    return this.limiter.idle();
  }

  private async shutdown(): Promise<void> {
    const { logger, shutdownGraceMs, shutdown, source } = this.options;
    this.stopReceiving.abort();
    await this.loops;
    if (this.limiter.inFlight > 0) {
      logger.info({ inFlight: this.limiter.inFlight, graceMs: shutdownGraceMs }, 'waiting for in-flight messages');
      if (!(await settlesWithin(this.limiter.idle(), shutdownGraceMs))) {
        logger.warn({ inFlight: this.limiter.inFlight }, 'grace period over: cancelling in-flight deliveries');
        shutdown.abort();
        // A send that ignores its abort signal (a code rule, say) must not hang the shutdown:
        // what it holds is handed back by the source below, or returns after its visibility.
        if (!(await settlesWithin(this.limiter.idle(), 5_000))) {
          logger.warn({ inFlight: this.limiter.inFlight }, 'deliveries ignored cancellation; closing anyway');
        }
      }
    }
    // Slots are freed before settling; the source closes only once every settle is done.
    await settlesWithin(Promise.allSettled([...this.handling]), 10_000);
    await source.close();
    for (const part of this.options.closeWhenStopped ?? []) {
      await part.close().catch((err: unknown) => logger.warn({ err }, 'could not close cleanly'));
    }
  }

  private async run(): Promise<void> {
    const { source, pipeline, events, logger } = this.options;
    const signal = this.stopReceiving.signal;
    const baseMs = this.options.receiveRetryBaseMs ?? 1000;
    let failures = 0;
    while (!signal.aborted) {
      const wanted = await this.limiter.reserveSlots(this.receiveBatch, source.maxBatch, signal);
      if (wanted === 0) break;
      let batch: Awaited<ReturnType<Source['receive']>>;
      try {
        batch = await source.receive(wanted, signal);
        failures = 0;
        this.failedReceives = 0;
        this.limiter.fill(wanted, batch.length);
      } catch (err) {
        this.limiter.fill(wanted, 0);
        if (signal.aborted) break;
        failures++;
        this.failedReceives++;
        // Jittered so the receive loops (and other processors) that failed together do not all
        // retry in the same instant against a queue that is just coming back.
        const waitMs = backoffDelayMs({ baseDelayMs: baseMs, maxDelayMs: RECEIVE_RETRY_MAX_MS }, failures);
        events.emit('source_error', { operation: 'receive', error: err instanceof Error ? err.message : String(err) });
        logger.warn({ err, waitMs }, 'receive failed; retrying');
        await sleep(waitMs, signal);
        continue;
      }
      for (const message of batch) {
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          this.limiter.release();
        };
        const handling: Promise<void> = pipeline
          .handle(message, release)
          .catch((err: unknown) => logger.error({ err, messageId: message.id }, 'pipeline failed'))
          .finally(() => {
            release();
            this.handling.delete(handling);
          });
        this.handling.add(handling);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
