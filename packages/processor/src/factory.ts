import { type Channel, createChannels } from '@herald/channels';
import { HeraldError } from '@herald/core';
import { compileConfigTemplates, type ResolvedConfig, readStoreUrl } from '@herald/core/config';
import { type Environment, type Logger, type MemoryQueue, silentLogger } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
import { createEmailer, type Emailer } from '@herald/emailer';
import type { CodeRule } from './delivery/code-rules.js';
import { DigestSender } from './delivery/digest-sender.js';
import { type DeliveryLedger, MemoryLedger } from './delivery/ledger.js';
import { Pipeline } from './delivery/pipeline.js';
import { SilenceWatch } from './delivery/silences.js';
import { StoreLedger } from './delivery/store-ledger.js';
import { ProcessorEvents } from './events.js';
import { Processor } from './flow/processor.js';
import { MemorySource } from './sources/memory-source.js';
import { PubSubSource } from './sources/pubsub-source.js';
import type { Source } from './sources/source.js';
import { SqsSource } from './sources/sqs-source.js';

/** Parts of a processor that can be supplied instead of built from the config. */
export interface ProcessorDependencies {
  logger?: Logger;
  /** Required for `type: sandbox`: the in-process queue the publisher writes to. */
  memoryQueue?: MemoryQueue;
  source?: Source;
  emailer?: Emailer;
  ledger?: DeliveryLedger;
  random?: () => number;
  /** Channels to use instead of building `herald.channels` (tests). */
  channels?: ReadonlyMap<string, Channel>;
  /** Rules written in code, see {@link when}. */
  codeRules?: readonly CodeRule[];
  /** Traces each message, continuing the trace it carries (see `@herald/core/tracing`). */
  tracing?: Tracing | undefined;
}

/**
 * Builds the processor a config describes: its source, emailer and pipeline.
 * @throws HeraldError when the config's transport cannot be built here.
 */
export function createProcessor(config: ResolvedConfig, deps: ProcessorDependencies = {}): Processor {
  const logger = deps.logger ?? silentLogger;
  const source = deps.source ?? createSource(config, deps);
  const emailer = deps.emailer ?? createEmailer(config, process.env, logger);
  const events = new ProcessorEvents();
  const shutdown = new AbortController();
  const codeRules = deps.codeRules ?? [];
  const names = codeRules.map((rule) => rule.name);
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) {
    // The name is the rule's identity in the delivery ledger: two rules with one name would
    // look like one destination, and the second would never run.
    throw new HeraldError(`two code rules are named '${repeated}': give each when(...) its own name`);
  }
  const templates = compileConfigTemplates(config);
  const ledger = deps.ledger ?? createLedger(config, logger);
  // A ledger built here is the processor's to open and close; one passed in is the caller's.
  const ownLedger = deps.ledger === undefined && ledger instanceof StoreLedger ? [ledger] : [];
  // Silences live in the store: read by every replica, started once the store is open.
  const silences = ledger instanceof StoreLedger ? new SilenceWatch(() => ledger, logger) : undefined;
  const channels = deps.channels ?? createChannels(config, templates.renderer);
  // Digests are held in the store too; every replica sends those that are due (one each).
  const digests =
    ledger instanceof StoreLedger
      ? new DigestSender({
          store: () => ledger.opened(),
          ledger,
          parts: { config, templates, emailer, channels, codeRules },
          config,
          events,
          logger,
          shutdownSignal: shutdown.signal,
          random: deps.random,
          tracing: deps.tracing,
        })
      : undefined;
  const pipeline = new Pipeline({
    config,
    templates,
    channels,
    codeRules,
    source,
    emailer,
    ledger,
    silences,
    events,
    logger,
    shutdownSignal: shutdown.signal,
    random: deps.random,
    tracing: deps.tracing,
  });
  return new Processor({
    source,
    pipeline,
    events,
    logger,
    maxInFlight: config.processing.maxInFlight,
    shutdownGraceMs: config.processing.shutdownGraceMs,
    shutdown,
    // An emailer passed in belongs to the caller, who closes it.
    closeWhenStopped: [
      ...(emailer && !deps.emailer ? [emailer] : []),
      templates.renderer.hold(),
      ...(silences ? [silences] : []),
      ...(digests ? [digests] : []),
      ...ownLedger,
    ],
    startFirst: [...ownLedger, ...(silences ? [silences] : []), ...(digests ? [digests] : [])],
    ledger,
    digests,
  });
}

/**
 * The source a config describes (SQS, Pub/Sub subscription, in-memory queue).
 * @throws HeraldError when an in-memory transport is asked for without its queue.
 */
export function createSource(
  config: ResolvedConfig,
  deps: Pick<ProcessorDependencies, 'logger' | 'memoryQueue'> = {},
): Source {
  switch (config.type) {
    case 'sandbox':
    case 'local': {
      // local: FlyteAdmin's no-op processor. An empty in-memory queue that nothing publishes to.
      if (!deps.memoryQueue) throw new HeraldError(`type ${config.type} needs the in-process queue (memoryQueue)`);
      return new MemorySource(deps.memoryQueue, {
        deadLetterFile: config.type === 'sandbox' ? config.sandbox.deadLetterFile : undefined,
      });
    }
    case 'aws':
      return new SqsSource({
        queueName: config.processor.queueName,
        accountId: config.processor.accountId,
        deadLetterQueueName: config.awsTransport.deadLetterQueueName,
        region: config.aws.region,
        endpoint: config.awsTransport.endpoint,
        visibilityTimeoutSeconds: config.awsTransport.visibilityTimeoutSeconds,
        waitTimeSeconds: config.awsTransport.waitTimeSeconds,
        receiveConcurrency: config.awsTransport.receiveConcurrency,
        reconnectAttempts: config.reconnect.attempts,
        reconnectDelaySeconds: config.reconnect.delaySeconds,
        logger: deps.logger,
      });
    case 'gcp':
      return new PubSubSource({
        projectId: config.gcp.projectId,
        subscriptionName: config.processor.queueName,
        deadLetterTopicName: config.gcpTransport.deadLetterTopicName,
        // Beyond the messages being delivered, three times as many wait, leased, in the source:
        // a slot that frees is filled at once instead of after a round trip to Pub/Sub, and the
        // acks still on their way do not stall the stream. Measured on the emulator
        // (bench/emulators.ts): 2× gave 4,400 messages/s, 4× 5,800, 8× 6,000. More would let one
        // replica hoard messages other replicas could be delivering.
        maxOutstandingMessages: 4 * config.processing.maxInFlight,
        maxOutstandingBytes: config.gcpTransport.maxOutstandingBytes,
        reconnectAttempts: config.reconnect.attempts,
        reconnectDelaySeconds: config.reconnect.delaySeconds,
        logger: deps.logger,
      });
  }
}

/**
 * The delivery ledger a config describes: its store (`herald.store`, the sandbox's SQLite file)
 * or, without one, memory. The store's URL may be a secret (a PostgreSQL password).
 * @throws ConfigError when the URL's secret cannot be read.
 */
export function createLedger(config: ResolvedConfig, logger: Logger, env: Environment = process.env): DeliveryLedger {
  const url = readStoreUrl(config, env);
  if (!config.store || url === undefined) return new MemoryLedger(config.processing.dedupCapacity);
  return new StoreLedger({
    url,
    // One attempt (render and send) is bounded by the delivery timeout; the margin covers the
    // store round trips around it.
    leaseMs: config.processing.deliveryTimeoutMs + 30_000,
    retentionDays: config.store.retentionDays,
    logger,
  });
}
