import { type ExecutionEvent, encodeEvent, sampleEvent } from '@herald/core';
import { parseConfig, type ResolvedConfig } from '@herald/core/config';
import { MemoryQueue } from '@herald/core/runtime';
import {
  createProcessor,
  type DeliveryLedger,
  MemoryLedger,
  MemorySource,
  type Processor,
  type ProcessorEventMap,
} from '@herald/processor';
import { RecordingEmailer } from './recording-emailer.js';

/** A sandbox processor with a recording emailer, and everything its lifecycle emitted. */
export interface Harness {
  config: ResolvedConfig;
  queue: MemoryQueue;
  source: MemorySource;
  emailer: RecordingEmailer;
  processor: Processor;
  seen: { [K in keyof ProcessorEventMap]: ProcessorEventMap[K][] };
  publish(event: ExecutionEvent | string): void;
  /** Resolves once `count` messages have been acked (done for good). */
  acked(count: number): Promise<void>;
}

export function makeHarness(
  herald = '',
  options: {
    maxInFlight?: number;
    maxAttempts?: number;
    eventTemplateBudgetMs?: number;
    deliveryTimeoutMs?: number;
    /** The ledger to use; default one in memory, so each harness starts with nothing delivered. */
    ledger?: DeliveryLedger;
  } = {},
): Harness {
  const config = parseConfig(
    `notifications: {type: sandbox, emailer: {sender: "herald@example.com", subject: "{{ name }} {{ phase }}", body: "<p>{{ name }}</p>"}}
herald:
  processor: {retryBaseDelayMs: 10, retryMaxDelayMs: 40, maxAttempts: ${options.maxAttempts ?? 3}, maxInFlight: ${options.maxInFlight ?? 8}, shutdownGraceMs: 50, eventTemplateBudgetMs: ${options.eventTemplateBudgetMs ?? 1000}, deliveryTimeoutMs: ${options.deliveryTimeoutMs ?? 30000}}
${herald}`,
    { env: {} },
  );
  const queue = new MemoryQueue(1000);
  const source = new MemorySource(queue);
  const emailer = new RecordingEmailer();
  // Not the sandbox's default store: that would be a file shared by every test in this folder.
  const ledger = options.ledger ?? new MemoryLedger(config.processing.dedupCapacity);
  const processor = createProcessor(config, { memoryQueue: queue, source, emailer, ledger, random: () => 0.5 });
  const seen = {
    message_received: [],
    delivered: [],
    duplicate_skipped: [],
    retry_scheduled: [],
    dead_lettered: [],
    message_settled: [],
    message_skipped: [],
    source_error: [],
  } as unknown as Harness['seen'];
  for (const name of Object.keys(seen) as (keyof ProcessorEventMap)[]) {
    processor.events.on(name, (payload) => (seen[name] as unknown[]).push(payload));
  }
  return {
    config,
    queue,
    source,
    emailer,
    processor,
    seen,
    publish: (event) => queue.send(typeof event === 'string' ? event : encodeEvent(event)),
    acked: (count) =>
      new Promise((resolve) => {
        const check = () => {
          if (seen.message_settled.filter((s) => s.outcome === 'acked').length >= count) resolve();
        };
        processor.events.on('message_settled', check);
        check();
      }),
  };
}

/** A FAILED event for one execution, emailing `recipients`. */
export function failedEvent(id: string, recipients: string[] = ['oncall@example.com']): ExecutionEvent {
  return sampleEvent({
    id,
    execution: { project: 'p', domain: 'd', name: id },
    notifications: [{ phases: ['FAILED'], email: { recipients } }],
  });
}
