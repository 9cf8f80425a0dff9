import {
  createLogThrottle,
  type ExecutionEvent,
  type Logger,
  type LogThrottle,
  MemoryQueue,
  type ResolvedConfig,
  readSecret,
} from '@herald/core';
import { createProcessor, type Processor, type ProcessorEventMap } from '@herald/processor';
import { createPublisher, type Publisher, prepareEvents } from '@herald/publisher';
import { UsageError } from '../errors.js';
import { createMetrics, type HeraldMetrics } from '../http/metrics.js';
import { HttpServer } from '../http/server.js';

/** Options of `herald run`. */
export interface RunOptions {
  /** Events to publish once the processor is running (sandbox demo, smoke tests). */
  publish: ExecutionEvent[];
  /** Stop once everything published has been settled. */
  exitWhenIdle: boolean;
  /** Where the end-of-run summary goes. */
  out: NodeJS.WritableStream;
}

/**
 * Runs the processor until SIGINT/SIGTERM (or until idle with `exitWhenIdle`), then drains
 * in-flight work and resolves. A second signal exits at once.
 */
export async function runProcessor(config: ResolvedConfig, logger: Logger, options: RunOptions): Promise<number> {
  if (options.exitWhenIdle && config.type !== 'sandbox') {
    throw new UsageError('--exit-when-idle needs type sandbox: a shared queue is never known to be empty');
  }
  const queue =
    config.type === 'sandbox' || config.type === 'local' ? new MemoryQueue(config.sandbox.queueCapacity) : undefined;
  // Refuse bad events before anything starts (e.g. a notification on a phase that is not terminal).
  const toPublish = prepareEvents(options.publish);
  // Read before anything is built, so a missing token exits 2 at once, naming the key.
  const ingestToken =
    config.http.listen && config.http.ingest.enabled && config.http.ingest.tokenEnvVar
      ? readSecret({ envVar: config.http.ingest.tokenEnvVar }, 'herald.http.ingest.tokenEnvVar')
      : undefined;
  for (const warning of config.warnings) logger.warn({ config: config.source }, warning);
  const processor = createProcessor(config, { logger, memoryQueue: queue });
  // Counting starts with the processor, before the server that shows the counts is up.
  const metrics = config.http.metrics ? createMetrics(processor) : undefined;
  // Only a sandbox run that ends by itself prints what it sent; a long-running processor keeps
  // counts, never the deliveries themselves, so its memory does not grow with every email.
  const tally = logLifecycle(processor, logger, options.exitWhenIdle);

  // Listen for signals before anything starts, so a signal at any point drains cleanly.
  let stop: () => void = () => {};
  let processorStopping = false;
  const stopRequested = new Promise<void>((resolve) => {
    stop = () => {
      processorStopping = true;
      resolve();
    };
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.error({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    logger.info({ signal }, 'stopping: draining in-flight work');
    stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Signal handlers do not keep Node's event loop alive, and an idle in-memory queue has no
  // timers or sockets: without this the process would end by itself.
  const keepAlive = setInterval(() => {}, 1 << 30);

  let started = false;
  let server: HttpServer | undefined;
  let publisher: Publisher | undefined;
  // The HTTP server goes first, so nothing new is accepted, then the publisher it used, then
  // the processor drains. Each step runs even when one before it failed.
  let shuttingDown: Promise<void> | undefined;
  const shutdown = () => {
    shuttingDown ??= (async () => {
      try {
        if (server) {
          await server.stop();
          logger.info({}, 'http server stopped');
        }
      } finally {
        try {
          await publisher?.close();
        } finally {
          await processor.stop();
        }
      }
    })();
    return shuttingDown;
  };

  try {
    if (config.type === 'local') {
      logger.warn({}, 'notifications.type is local: notifications are disabled; nothing will be processed');
    }
    await processor.start();
    started = true;
    logger.info(
      { type: config.type, emailer: config.emailer.provider, config: config.source },
      'herald processor started',
    );

    const ingest = config.http.listen !== undefined && config.http.ingest.enabled;
    if (options.publish.length > 0 || ingest) publisher = createPublisher(config, { memoryQueue: queue, logger });
    if (config.http.listen) {
      server = await startHttpServer(config, logger, {
        metrics,
        ingest: ingest && publisher ? { publisher, token: ingestToken } : undefined,
        ready: () => started && !processorStopping && processor.queueReachable,
      });
    }

    if (publisher && options.publish.length > 0) {
      const results = await publisher.publish(toPublish);
      for (const [i, result] of results.entries()) {
        const event = toPublish[i] as ExecutionEvent;
        logger.info(
          { eventId: result.eventId, messageId: result.messageId, phase: event.phase, execution: event.execution.name },
          'event published',
        );
      }
    }

    if (options.exitWhenIdle && queue) {
      const stopWhenIdle = () => {
        if (queue.size === 0 && processor.inFlight === 0) stop();
      };
      // Settled is emitted while the message still holds its slot; look once it is released.
      processor.events.on('message_settled', () => void processor.idle().then(stopWhenIdle));
      stopWhenIdle();
    }
    await stopRequested;
    await shutdown();
  } catch (err) {
    // Whatever failed after start, the processor drains what it holds before the error is reported.
    await shutdown();
    throw err;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  tally.repeated.flush();
  logger.info(
    { delivered: tally.delivered, retries: tally.retries, deadLettered: tally.deadLettered },
    'herald processor stopped',
  );
  if (options.exitWhenIdle) options.out.write(formatSummary(tally, config));
  return 0;
}

/** Starts the HTTP server `herald.http` describes and logs where it listens. */
async function startHttpServer(
  config: ResolvedConfig,
  logger: Logger,
  parts: {
    metrics: HeraldMetrics | undefined;
    ingest: { publisher: Publisher; token: string | undefined } | undefined;
    ready: () => boolean;
  },
): Promise<HttpServer> {
  const { listen, ingest } = config.http;
  if (!listen) throw new Error('startHttpServer needs herald.http.listen');
  const server = new HttpServer({
    host: listen.host,
    port: listen.port,
    logger,
    ready: parts.ready,
    metrics: parts.metrics,
    ingest: parts.ingest && { ...parts.ingest, maxBodyBytes: ingest.maxBodyBytes },
  });
  const address = await server.start();
  logger.info(
    {
      address,
      metrics: parts.metrics ? `${address}/metrics` : false,
      ingest: parts.ingest ? `${address}/v1/events` : false,
      authenticated: parts.ingest ? parts.ingest.token !== undefined : undefined,
    },
    'http server listening',
  );
  return server;
}

interface Tally {
  delivered: number;
  retries: number;
  deadLettered: number;
  /** Every delivery, kept only for the summary of a run that stops when idle. */
  sent: ProcessorEventMap['delivered'][] | undefined;
  /** Warnings that repeat by the thousand in an outage. */
  repeated: LogThrottle;
}

/**
 * Retries and queue errors come in floods when a provider or the queue is down (thousands of
 * lines a minute): a few lines per window, then a count. Metrics count every one.
 */
const REPEATED_WARNINGS = { intervalMs: 10_000, burst: 5 };

function logLifecycle(processor: Processor, logger: Logger, keepDeliveries: boolean): Tally {
  const tally: Tally = {
    delivered: 0,
    retries: 0,
    deadLettered: 0,
    sent: keepDeliveries ? [] : undefined,
    repeated: createLogThrottle(logger, REPEATED_WARNINGS),
  };
  processor.events.on('delivered', (e) => {
    tally.delivered++;
    tally.sent?.push(e);
    logger.info(
      {
        eventId: e.eventId,
        provider: e.provider,
        to: e.to,
        subject: e.subject,
        messageId: e.providerMessageId,
        location: e.location,
        ms: Math.round(e.durationMs),
      },
      // Slack posts and PagerDuty triggers are not emails; operators grep for these words.
      e.destination.startsWith('email:') ? 'email delivered' : `${e.provider} delivered`,
    );
  });
  processor.events.on('retry_scheduled', (e) => {
    tally.retries++;
    tally.repeated.warn(
      'retry',
      { eventId: e.eventId, destinations: e.destinations, attempt: e.attempt, delayMs: e.delayMs, error: e.error },
      'delivery failed; retry scheduled',
    );
  });
  processor.events.on('dead_lettered', (e) => {
    tally.deadLettered++;
    logger.error(
      { messageId: e.messageId, eventId: e.eventId, kind: e.kind, destination: e.destination, reason: e.reason },
      'dead-lettered',
    );
  });
  processor.events.on('source_error', (e) => tally.repeated.warn(e.operation, { ...e }, 'queue operation failed'));
  return tally;
}

function formatSummary(tally: Tally, config: ResolvedConfig): string {
  const lines = [`\n${tally.delivered} email${tally.delivered === 1 ? '' : 's'} delivered`];
  for (const d of tally.sent ?? []) {
    lines.push('', `  Subject: ${d.subject}`, `  To:      ${d.to.join(', ')}`);
    if (d.location) lines.push(`  File:    ${d.location}`);
    lines.push(...d.text.split('\n').map((line) => `  | ${line}`));
  }
  lines.push('');
  if (tally.retries > 0) lines.push(`${tally.retries} retr${tally.retries === 1 ? 'y' : 'ies'} along the way`);
  if (tally.deadLettered > 0) lines.push(`${tally.deadLettered} dead-lettered: see ${config.sandbox.deadLetterFile}`);
  return `${lines.join('\n')}\n`;
}
