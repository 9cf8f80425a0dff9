import type { ExecutionEvent } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { HeraldError } from '@herald/core/errors';
import type { Logger } from '@herald/core/runtime';
import { createPublisher, EventTooLargeError, PublishError, type PublishResult } from '@herald/publisher';
import { UsageError } from '../errors.js';
import { openTracing } from '../open-tracing.js';

export interface PublishOptions {
  /** The file the events came from, named when one is too large. */
  eventFile: string;
  logger: Logger;
  /** Gets one line per event published: its message id and event id. */
  out: NodeJS.WritableStream;
}

/**
 * `herald publish`: publishes the events through the config's transport and prints each one's
 * message id. What went out is printed even when the rest failed, so a script sees every id.
 */
export async function publishEvents(
  config: ResolvedConfig,
  events: ExecutionEvent[],
  options: PublishOptions,
): Promise<void> {
  let publisher: ReturnType<typeof createPublisher>;
  const tracingSession = await openTracing(config, options.logger);
  try {
    publisher = createPublisher(config, { logger: options.logger, tracing: tracingSession?.tracing });
  } catch (err) {
    await tracingSession?.shutdown();
    if (err instanceof HeraldError) throw new UsageError(err.message);
    throw err;
  }
  const print = (result: PublishResult) =>
    options.out.write(`${result.messageId || '(not published: notifications disabled)'}\t${result.eventId}\n`);
  try {
    const publishAll = () => publisher.publish(events);
    // A script may pass its own trace in TRACEPARENT (OpenTelemetry's environment carrier):
    // the publish then continues it rather than starting a trace of its own.
    const { TRACEPARENT: traceparent, TRACESTATE: tracestate } = process.env;
    const tracing = tracingSession?.tracing;
    const results = await (tracing && traceparent
      ? tracing.within({ traceparent, tracestate }, publishAll)
      : publishAll());
    for (const result of results) print(result);
  } catch (err) {
    // Nothing was sent, and sending again cannot help: the event must be made smaller.
    if (err instanceof EventTooLargeError) throw new UsageError(`${options.eventFile}: ${err.message}`);
    if (err instanceof PublishError && err.published.length > 0) {
      // The events listed as failed may be published again: they keep their ids, and the
      // processor delivers each id once.
      for (const result of err.published) print(result);
      const failed = err.failed.map((f) => `[${f.index}] ${f.eventId}`).join(', ');
      throw new PublishError(`${err.message}; not published: ${failed}`, { cause: err });
    }
    throw err;
  } finally {
    await publisher.close();
    await tracingSession?.shutdown();
  }
}
