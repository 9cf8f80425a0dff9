import type { ExecutionEvent } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import type { Logger } from '@herald/core/runtime';
import type { Processor, ProcessorEventMap } from '@herald/processor';
import { prepareEvents } from '@herald/publisher';
import { HeraldApp } from '@herald/server';
import { UsageError } from '../errors.js';
import { limitHeapGrowth } from '../heap-growth.js';
import { openTracing } from '../open-tracing.js';

/** Options of `herald run`. */
export interface RunOptions {
  /** Events to publish once the processor is running (sandbox demo, smoke tests). */
  publish: ExecutionEvent[];
  /** Stop once everything published has been settled. */
  exitWhenIdle: boolean;
  /** Where the end-of-run summary goes. */
  out: NodeJS.WritableStream;
  /** Called once the processor has started (see holdYoungGenerationWhileStarting). */
  started?: (() => void) | undefined;
}

/**
 * Runs Herald until SIGINT/SIGTERM (or until idle with `exitWhenIdle`), then drains in-flight
 * work and resolves. A second signal exits at once. The application itself (what starts and
 * stops, in which order) is {@link HeraldApp}; this adds signals, the logs and the summary.
 */
export async function runProcessor(config: ResolvedConfig, logger: Logger, options: RunOptions): Promise<number> {
  limitHeapGrowth();
  if (options.exitWhenIdle && config.type !== 'sandbox') {
    throw new UsageError('--exit-when-idle needs type sandbox: a shared queue is never known to be empty');
  }
  // Refuse bad events before anything starts (e.g. a notification on a phase that is not terminal).
  const toPublish = prepareEvents(options.publish);
  for (const warning of config.warnings) logger.warn({ config: config.source }, warning);
  const tracingSession = await openTracing(config, logger);
  const app = new HeraldApp(config, { logger, tracing: tracingSession?.tracing });
  // Only a sandbox run that ends by itself prints what it sent; a long-running processor keeps
  // counts, never the deliveries themselves, so its memory does not grow with every email.
  const tally = countLifecycle(app.processor, options.exitWhenIdle);

  // Listen for signals before anything starts, so a signal at any point drains cleanly.
  let stop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    stop = resolve;
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

  try {
    await app.start();
    options.started?.();
    if (toPublish.length > 0) {
      const results = await app.publish(toPublish);
      for (const [i, result] of results.entries()) {
        const event = toPublish[i] as ExecutionEvent;
        logger.info(
          { eventId: result.eventId, messageId: result.messageId, phase: event.phase, execution: event.execution.name },
          'event published',
        );
      }
    }
    const { queue, processor } = app;
    if (options.exitWhenIdle && queue) {
      const stopWhenIdle = () => {
        if (queue.size === 0 && processor.inFlight === 0) stop();
      };
      // Settled is emitted while the message still holds its slot; look once it is released.
      processor.events.on('message_settled', () => void processor.idle().then(stopWhenIdle));
      stopWhenIdle();
    }
    await stopRequested;
  } finally {
    // Whatever failed after start, the processor drains what it holds before the error is reported.
    await app.stop();
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // After the processor has drained: the spans of its last messages are sent too.
    await tracingSession?.shutdown();
  }
  logger.info(
    { delivered: tally.delivered, retries: tally.retries, deadLettered: tally.deadLettered },
    'herald processor stopped',
  );
  if (options.exitWhenIdle) options.out.write(formatSummary(tally, config));
  return 0;
}

interface Tally {
  delivered: number;
  retries: number;
  deadLettered: number;
  /** Deliveries the ledger had already settled (a redelivered message, or an earlier run). */
  alreadyDone: number;
  /** Deliveries folded into digests, and the digests they went into. */
  folded: number;
  digests: Set<string>;
  /** Every delivery, kept only for the summary of a run that stops when idle. */
  sent: ProcessorEventMap['delivered'][] | undefined;
}

/** Counts what the run did, for its last log line and (when it stops by itself) its summary. */
function countLifecycle(processor: Processor, keepDeliveries: boolean): Tally {
  const tally: Tally = {
    delivered: 0,
    retries: 0,
    deadLettered: 0,
    alreadyDone: 0,
    folded: 0,
    digests: new Set(),
    sent: keepDeliveries ? [] : undefined,
  };
  processor.events.on('delivery_folded', (e) => {
    tally.folded++;
    tally.digests.add(e.digestId);
  });
  processor.events.on('delivered', (e) => {
    tally.delivered++;
    tally.sent?.push(e);
  });
  processor.events.on('retry_scheduled', () => tally.retries++);
  processor.events.on('dead_lettered', () => tally.deadLettered++);
  processor.events.on('duplicate_skipped', () => tally.alreadyDone++);
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
  if (tally.folded > 0) {
    const digests = tally.digests.size;
    lines.push(
      `${tally.folded} folded into ${digests} digest${digests === 1 ? '' : 's'}, sent when ${digests === 1 ? 'its window ends' : 'their windows end'} by whichever herald run is running then (herald digests list)`,
    );
  }
  if (tally.alreadyDone > 0) {
    const where = config.store?.url
      ? ` (the delivery log, ${config.store.url.replace(/^sqlite:/, '')}, remembers them)`
      : '';
    lines.push(`${tally.alreadyDone} skipped: already delivered or dead-lettered${where}`);
  }
  return `${lines.join('\n')}\n`;
}
