import { createLogThrottle, type Logger, type LogThrottle } from '@herald/core/runtime';
import type { ProcessorEvents } from '@herald/processor';

/**
 * Retries and queue errors come in floods when a provider or the queue is down (thousands of
 * lines a minute): a few lines per window, then a count. Metrics count every one.
 */
const REPEATED_WARNINGS = { intervalMs: 10_000, burst: 5 };

/**
 * Logs what happens to messages: each delivery and dead letter, and retries and queue errors
 * throttled. Returns the throttle, to be flushed when the application stops so the last
 * window's count is not lost.
 */
export function logLifecycle(events: ProcessorEvents, logger: Logger): LogThrottle {
  const repeated = createLogThrottle(logger, REPEATED_WARNINGS);
  events.on('delivered', (e) => {
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
      // `email delivered`, `slack delivered`, …: operators grep for these words.
      `${e.channel} delivered`,
    );
  });
  events.on('retry_scheduled', (e) =>
    repeated.warn(
      'retry',
      { eventId: e.eventId, destinations: e.destinations, attempt: e.attempt, delayMs: e.delayMs, error: e.error },
      'delivery failed; retry scheduled',
    ),
  );
  events.on('dead_lettered', (e) =>
    logger.error(
      { messageId: e.messageId, eventId: e.eventId, kind: e.kind, destination: e.destination, reason: e.reason },
      'dead-lettered',
    ),
  );
  events.on('delivery_silenced', (e) =>
    logger.info(
      { messageId: e.messageId, eventId: e.eventId, destination: e.label, silenceId: e.silenceId },
      'delivery silenced',
    ),
  );
  events.on('delivery_folded', (e) =>
    logger.debug(
      { messageId: e.messageId, eventId: e.eventId, destination: e.label, digestId: e.digestId },
      'delivery folded into a digest',
    ),
  );
  events.on('delivery_suppressed', (e) =>
    logger.info(
      { messageId: e.messageId, eventId: e.eventId, destination: e.label, onceValue: e.onceValue, sentFor: e.sentFor },
      'delivery suppressed: sent once already',
    ),
  );
  events.on('digest_sent', (e) =>
    logger.info(
      {
        digestId: e.digestId,
        rule: e.rule,
        destination: e.label,
        count: e.count,
        durationMs: Math.round(e.durationMs),
      },
      'digest sent',
    ),
  );
  events.on('digest_failed', (e) =>
    (e.deadLettered ? logger.error.bind(logger) : logger.warn.bind(logger))(
      {
        digestId: e.digestId,
        rule: e.rule,
        destination: e.label,
        attempt: e.attempt,
        delayMs: e.delayMs,
        error: e.error,
      },
      e.deadLettered ? 'digest dead-lettered' : 'digest send failed; retry scheduled',
    ),
  );
  events.on('message_skipped', (e) =>
    logger.debug({ messageId: e.messageId, reason: e.reason }, 'message skipped: it asks for no notification'),
  );
  events.on('source_error', (e) => repeated.warn(e.operation, { ...e }, 'queue operation failed'));
  return repeated;
}
