import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { completeEvent, DecodeError, type ExecutionEvent, HeraldError, QueueFullError } from '@herald/core';
import { createLogThrottle, type Logger, type LogThrottleOptions } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
import {
  EventInputError,
  EventTooLargeError,
  PublishError,
  type Publisher,
  parseEvents,
  prepareEvents,
} from '@herald/publisher';
import type { HeraldMetrics, IngestRejection } from './metrics.js';
import { type Headers, sendJson } from './reply.js';

/** Media types `POST /v1/events` reads; either may hold one event, a JSON array or JSON lines. */
export const INGEST_MEDIA_TYPES = ['application/json', 'application/x-ndjson'] as const;

/** Seconds a client is asked to wait when the queue is full or the server is stopping. */
const RETRY_AFTER_FULL_SECONDS = 1;
const RETRY_AFTER_STOPPING_SECONDS = 5;

/**
 * "ingest request refused" warnings: per reason, 5 lines every 10 s, then one line counting the
 * rest. A flood of bad requests (a client with a stale token retrying in a loop) must not
 * bury the rest of the log; the metric `herald_ingest_rejected_total` still counts each one.
 */
const REFUSAL_WARNINGS: LogThrottleOptions = { intervalMs: 10_000, burst: 5 };

/** What the ingest endpoint needs. */
export interface IngestOptions {
  /** Publishes accepted events; created once by `herald run`, closed on shutdown. */
  publisher: Pick<Publisher, 'publish'>;
  /** The bearer token requests must carry; undefined: none is asked for. */
  token: string | undefined;
  maxBodyBytes: number;
  logger: Logger;
  metrics?: Pick<HeraldMetrics, 'eventsIngested' | 'ingestRejected'> | undefined;
  /** True once the server has begun to stop: requests are then refused with 503. */
  stopping: () => boolean;
  /**
   * How often a refusal is logged.
   * @defaultValue per reason, 5 lines every 10 s, then one summary line
   */
  refusalWarnings?: LogThrottleOptions | undefined;
  /** Traces each request, continuing the caller's trace; undefined: no spans. */
  tracing?: Tracing | undefined;
}

/** The ingest endpoint's request handler. */
export interface IngestHandler {
  /**
   * Answers one `POST /v1/events`.
   * @param expectsContinue the client sent `Expect: 100-continue` and waits for it before sending the body.
   */
  (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void>;
  /** Writes the count of refusals not logged yet (on shutdown). */
  flushWarnings(): void;
}

/** A request `POST /v1/events` refuses, with the status and reason it answers with. */
class Rejection extends Error {
  constructor(
    readonly status: number,
    readonly reason: IngestRejection,
    message: string,
    readonly extra: { body?: Record<string, unknown>; headers?: Headers } = {},
  ) {
    super(message);
  }
}

/** The request body was longer than allowed; reading stopped there. */
export class BodyTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`request body is larger than ${maxBytes} bytes`);
  }
}

/**
 * `POST /v1/events`: checks the token, the media type and the size, reads the body, validates
 * every event the way `herald publish` does (plus Flyte's terminal-phase rule and the
 * transport's message size limit), and publishes them all — or, when any is bad, none.
 * Answers 202 with each event's id and message id. When the transport fails part-way, answers
 * 502 listing which events were published and which were not; since an event keeps its id
 * (given, or derived from its content), retrying the whole request sends nothing twice.
 */
export function createIngestHandler(options: IngestOptions): IngestHandler {
  const tokenDigest = options.token === undefined ? undefined : sha256(options.token);
  const refusals = createLogThrottle(options.logger, options.refusalWarnings ?? REFUSAL_WARNINGS);

  const handle = async (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    const { logger, metrics } = options;
    let bodyRead = false;
    try {
      if (options.stopping()) {
        throw new Rejection(503, 'stopping', 'herald is stopping', {
          headers: { 'Retry-After': RETRY_AFTER_STOPPING_SECONDS },
        });
      }
      if (tokenDigest && !bearerMatches(req.headers.authorization, tokenDigest)) {
        throw new Rejection(401, 'unauthorized', 'missing or wrong bearer token', {
          headers: { 'WWW-Authenticate': 'Bearer realm="herald"' },
        });
      }
      const mediaType = mediaTypeOf(req.headers['content-type']);
      if (!(INGEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
        throw new Rejection(
          415,
          'unsupported_media_type',
          `expected Content-Type ${INGEST_MEDIA_TYPES.join(' or ')}, got ${mediaType || 'none'}`,
        );
      }
      if (Number(req.headers['content-length']) > options.maxBodyBytes) throw tooLarge(options.maxBodyBytes);
      if (expectsContinue) res.writeContinue();

      const text = await readBodyOrReject(req, options.maxBodyBytes);
      bodyRead = true;
      const events = parseOrReject(text);
      const results = await publish(options.publisher, events, metrics);
      metrics?.eventsIngested(events.length);
      logger.debug({ events: events.length }, 'events ingested');
      sendJson(res, 202, { published: results.map(({ eventId, messageId }) => ({ eventId, messageId })) });
    } catch (err) {
      if (err instanceof RequestAbortedError) {
        logger.debug({ remote: req.socket.remoteAddress }, 'ingest request abandoned by the client');
        return;
      }
      if (!(err instanceof Rejection)) throw err;
      metrics?.ingestRejected(err.reason);
      refusals.warn(
        err.reason,
        { status: err.status, reason: err.reason, error: err.message, remote: req.socket.remoteAddress },
        'ingest request refused',
      );
      // A body refused unread (or read only in part) is not read to its end: the connection
      // closes instead, so a client cannot make the server swallow an unbounded upload.
      const headers = { ...err.extra.headers, ...(!bodyRead && hasBody(req) ? { Connection: 'close' } : {}) };
      sendJson(res, err.status, { error: err.message, ...err.extra.body }, headers);
    }
  };
  const { tracing } = options;
  const handler = tracing
    ? (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) =>
        tracing.request(
          'POST',
          '/v1/events',
          // Only a caller that may publish continues its own trace (and its sampling decision);
          // anyone else's request starts a trace of Herald's.
          !tokenDigest || bearerMatches(req.headers.authorization, tokenDigest) ? req.headers : {},
          () => handle(req, res, expectsContinue),
          () => res.statusCode,
        )
    : handle;
  return Object.assign(handler, { flushWarnings: () => refusals.flush() });
}

/** Whether a request says it carries a body. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
}

/**
 * The events of a request body, each completed (envelope fields filled in, `source`
 * `herald-http` when absent) and validated, Flyte's terminal-phase rule included.
 * @throws EventInputError naming the line (JSON lines) or index (JSON array) of the first bad event.
 */
export function parseIngestBody(text: string): ExecutionEvent[] {
  return parseEvents(
    text,
    'body',
    (value) => prepareEvents([completeEvent(value, 'herald-http')])[0] as ExecutionEvent,
  );
}

/** The media type of a Content-Type header, lower-case, without parameters; '' when absent. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Whether an Authorization header carries `Bearer <token>`, compared in constant time. */
export function bearerMatches(authorization: string | undefined, tokenDigest: Buffer): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
  if (!match) return false;
  // Digests have one length, so the comparison takes as long whatever was sent.
  return timingSafeEqual(sha256(match[1] as string), tokenDigest);
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** The client went away before its request body ended. */
export class RequestAbortedError extends Error {
  constructor() {
    super('the client closed the connection before the body ended');
  }
}

/**
 * Reads a request body, at most `maxBytes` of it. Past that, it stops reading (the stream is
 * paused and left alone) and rejects with {@link BodyTooLargeError}.
 */
export function readBody(stream: Readable, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        done();
        stream.pause();
        reject(new BodyTooLargeError(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onClose = () => {
      done();
      reject(new RequestAbortedError());
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

async function readBodyOrReject(req: IncomingMessage, maxBytes: number): Promise<string> {
  let body: Buffer;
  try {
    body = await readBody(req, maxBytes);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw tooLarge(maxBytes);
    // A request stream fails only when its connection does (reset, broken chunked encoding).
    throw new RequestAbortedError();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new Rejection(400, 'invalid', 'body: not UTF-8');
  }
}

function parseOrReject(text: string): ExecutionEvent[] {
  try {
    return parseIngestBody(text);
  } catch (err) {
    if (err instanceof EventInputError) {
      throw new Rejection(400, 'invalid', err.message, { body: { ...err.location } });
    }
    throw err;
  }
}

/**
 * Publishes a request's events. A refusal says why; a transport failure part-way lists the
 * events that were published (counted as ingested) and those that were not, by index and id.
 */
async function publish(
  publisher: IngestOptions['publisher'],
  events: ExecutionEvent[],
  metrics: IngestOptions['metrics'],
) {
  try {
    return await publisher.publish(events);
  } catch (err) {
    if (err instanceof QueueFullError) {
      throw new Rejection(503, 'queue_full', err.message, { headers: { 'Retry-After': RETRY_AFTER_FULL_SECONDS } });
    }
    if (err instanceof EventTooLargeError) {
      // The body was within maxBodyBytes, but an event in it is more than the queue takes in
      // one message: nothing was published, and a retry cannot succeed.
      const count = err.events.length;
      throw new Rejection(
        413,
        'event_too_large',
        `${count} event${count === 1 ? ' is' : 's are'} too large for the queue; nothing was published: ${err.message}`,
        {
          body: {
            events: err.events.map(({ index, eventId, bytes, maxBytes, reason }) => ({
              index,
              eventId,
              bytes,
              maxBytes,
              error: reason,
            })),
          },
        },
      );
    }
    // Checked above already; a publisher with stricter rules of its own still gets a 400.
    if (err instanceof DecodeError) throw new Rejection(400, 'invalid', `body: not a valid event: ${err.message}`);
    if (err instanceof PublishError) {
      if (err.published.length > 0) metrics?.eventsIngested(err.published.length);
      throw new Rejection(502, 'publish_failed', err.message, {
        body: {
          published: err.published.map(({ index, eventId, messageId }) => ({ index, eventId, messageId })),
          failed: err.failed.map(({ index, eventId, error }) => ({ index, eventId, error })),
        },
      });
    }
    if (err instanceof HeraldError) throw new Rejection(502, 'publish_failed', err.message);
    throw err;
  }
}

function tooLarge(maxBytes: number): Rejection {
  return new Rejection(413, 'too_large', `request body is larger than herald.http.ingest.maxBodyBytes (${maxBytes})`);
}
