/**
 * Herald's traces, written through the OpenTelemetry API and following its messaging
 * conventions: a publish is a `send` span (with a `create` span per message when several go out
 * together), each message carries its span's W3C `traceparent` in its attributes, and the
 * processor continues that trace with a `process` span per message, `decode` and `route` steps,
 * and a `deliver` span per destination with its `render` and `send`.
 *
 * Nothing here loads unless tracing is on: publishers, the processor and the HTTP server take an
 * optional {@link Tracing} and import only its type, so a process nobody collects traces from
 * neither loads the API nor creates a span.
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

export type { Tracer } from '@opentelemetry/api';

/**
 * `messaging.system` as OpenTelemetry's conventions spell it; Herald's in-process queue (the
 * sandbox) has no standard name.
 */
export type MessagingSystem = 'aws.sns' | 'aws_sqs' | 'gcp_pubsub' | 'herald.memory';

/** The message attributes a trace context travels in (W3C Trace Context's header names). */
export const TRACE_CONTEXT_ATTRIBUTES = ['traceparent', 'tracestate'] as const;

/**
 * The most the trace context adds to a message: the attributes' names, `traceparent` (55
 * characters) and `tracestate` (at most 32 members in 512 characters, as W3C Trace Context
 * allows). Publishers count it against the transport's size limit when tracing is on.
 */
export const TRACE_CONTEXT_MAX_BYTES = 'traceparent'.length + 55 + 'tracestate'.length + 512;

/** The spans of one publish call. */
export interface PublishTrace {
  /** The trace context to put in the attributes of message `index` of the call. */
  headers(index: number): Record<string, string>;
  /** Message `index` was accepted by the transport under `messageId`. */
  published(index: number, messageId: string): void;
  /** Ends every span of the call; with an error, marks them failed. */
  end(error?: unknown): void;
}

/** A message as the processor received it, as far as its trace is concerned. */
export interface TracedMessage {
  readonly id: string;
  readonly body: string | Uint8Array;
  readonly attributes: Readonly<Record<string, string>>;
  readonly receiveCount: number;
}

/** Where a message was received from. */
export interface MessageOrigin {
  system: MessagingSystem;
  /** The queue or subscription's name. */
  destination: string | undefined;
}

/** The `process` span of one message, and the steps and deliveries under it. */
export interface ProcessTrace {
  /** Sets attributes on the message's span (the event's id and execution, once decoded). */
  annotate(attributes: Attributes): void;
  /** Runs a synchronous step (`decode`, `route`) in a span of its own. */
  step<T>(name: string, run: () => T): T;
  /** Runs one destination's delivery in a `deliver` span. */
  delivery<T>(attributes: Attributes, run: (delivery: DeliveryTrace) => Promise<T>): Promise<T>;
}

/** One destination's `deliver` span. */
export interface DeliveryTrace {
  /** Runs an asynchronous part of the delivery (`render`, `send`) in a span of its own. */
  part<T>(name: string, attributes: Attributes, run: () => Promise<T>): Promise<T>;
  /** What became of the delivery (`delivered`, `retry`, `duplicate`, `folded`, …), and why when it failed. */
  outcome(outcome: string, error?: string): void;
}

/**
 * Herald's spans, made with the given tracer. The trace context is written into and read from
 * messages with the globally registered propagator (OpenTelemetry's SDK registers W3C Trace
 * Context); without one, messages carry nothing and each side starts its own traces.
 */
export class Tracing {
  /** {@link TRACE_CONTEXT_MAX_BYTES}, for publishers, which import this module's types only. */
  readonly maxContextBytes = TRACE_CONTEXT_MAX_BYTES;

  constructor(readonly tracer: Tracer) {}

  /**
   * The spans of publishing `eventIds` to `destination` (a topic), children of the current
   * context (an ingest request's span, or nothing: a new trace). One event: one `send` span,
   * the one its message carries. Several: a `send` span for the call and a `create` span per
   * message under it, so each message's trace leads back to its own creation.
   */
  startPublish(system: MessagingSystem, destination: string, eventIds: readonly string[]): PublishTrace {
    const parent = context.active();
    const single = eventIds.length === 1;
    const send = this.tracer.startSpan(
      `send ${destination}`,
      {
        kind: single ? SpanKind.PRODUCER : SpanKind.CLIENT,
        attributes: {
          ...messagingAttributes(system, destination, 'send'),
          ...(single ? { 'herald.event.id': eventIds[0] } : { 'messaging.batch.message_count': eventIds.length }),
        },
      },
      parent,
    );
    const withSend = trace.setSpan(parent, send);
    const spans = single
      ? [send]
      : eventIds.map((eventId) =>
          this.tracer.startSpan(
            `create ${destination}`,
            {
              kind: SpanKind.PRODUCER,
              attributes: { ...messagingAttributes(system, destination, 'create'), 'herald.event.id': eventId },
            },
            withSend,
          ),
        );
    return {
      headers(index) {
        const span = spans[index];
        const carrier: Record<string, string> = {};
        if (span) propagation.inject(trace.setSpan(parent, span), carrier);
        return traceContextOf(carrier);
      },
      published(index, messageId) {
        if (messageId) spans[index]?.setAttribute('messaging.message.id', messageId);
      },
      end(error) {
        for (const span of single ? [] : spans) span.end();
        if (error !== undefined) fail(send, error);
        send.end();
      },
    };
  }

  /**
   * Runs `run` inside the trace a carrier names (`{ traceparent, tracestate }`), e.g. the one
   * a calling script passes in the TRACEPARENT variable; spans started meanwhile join it.
   */
  within<T>(carrier: Readonly<Record<string, string | undefined>>, run: () => T): T {
    return context.with(propagation.extract(context.active(), carrier), run);
  }

  /**
   * Runs the handling of an HTTP request in a `SERVER` span (`POST /v1/events`), continuing
   * the trace the request's `traceparent` header carries. What the handler publishes meanwhile
   * is a child of the request, so the events' traces begin with the caller's.
   * @param status the response's status code, read when the handler is done.
   */
  request<T>(
    method: string,
    route: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    run: () => Promise<T>,
    status: () => number,
  ): Promise<T> {
    const upstream = propagation.extract(context.active(), headers);
    const span = this.tracer.startSpan(
      `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': method, 'http.route': route, 'url.path': route, 'url.scheme': 'http' },
      },
      upstream,
    );
    return runInSpan(span, trace.setSpan(upstream, span), run, () => {
      const code = status();
      span.setAttribute('http.response.status_code', code);
      if (code >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    });
  }

  /**
   * Runs the processing of one message in its `process` span, continuing the trace the message
   * carries (when it carries one). The span is the active context while `run` runs, so logs
   * written meanwhile can name it.
   */
  process<T>(
    message: TracedMessage,
    origin: MessageOrigin,
    run: (processTrace: ProcessTrace) => Promise<T>,
  ): Promise<T> {
    const upstream = propagation.extract(context.active(), carrierOf(message));
    const created = trace.getSpanContext(upstream);
    const span = this.tracer.startSpan(
      `process ${origin.destination ?? origin.system}`,
      {
        kind: SpanKind.CONSUMER,
        // The conventions link a message's processing to its creation; it is the parent too.
        links: created && trace.isSpanContextValid(created) ? [{ context: created }] : [],
        attributes: {
          ...messagingAttributes(origin.system, origin.destination, 'process'),
          'messaging.message.id': message.id,
          'herald.message.receive_count': message.receiveCount,
          ...(origin.system === 'gcp_pubsub'
            ? { 'messaging.gcp_pubsub.message.delivery_attempt': message.receiveCount }
            : {}),
        },
      },
      upstream,
    );
    const active = trace.setSpan(upstream, span);
    const processTrace: ProcessTrace = {
      annotate: (attributes) => span.setAttributes(attributes),
      step: (name, runStep) => this.inSpan(name, SpanKind.INTERNAL, {}, active, runStep),
      delivery: (attributes, runDelivery) => this.delivery(active, attributes, runDelivery),
    };
    return runInSpan(span, active, () => run(processTrace));
  }

  /**
   * Runs a delivery no message asked for just now (a digest whose window ended) in a `deliver`
   * span that starts a trace of its own.
   */
  detached<T>(attributes: Attributes, run: (delivery: DeliveryTrace) => Promise<T>): Promise<T> {
    return this.delivery(ROOT_CONTEXT, attributes, run);
  }

  private delivery<T>(
    parent: Context,
    attributes: Attributes,
    run: (delivery: DeliveryTrace) => Promise<T>,
  ): Promise<T> {
    const provider = attributes['herald.provider'];
    const span = this.tracer.startSpan(
      `deliver ${typeof provider === 'string' ? provider : ''}`.trim(),
      { kind: SpanKind.INTERNAL, attributes },
      parent,
    );
    const active = trace.setSpan(parent, span);
    const deliveryTrace: DeliveryTrace = {
      part: (name, partAttributes, runPart) =>
        this.inSpan(name, name === 'send' ? SpanKind.CLIENT : SpanKind.INTERNAL, partAttributes, active, runPart),
      outcome(outcome, error) {
        span.setAttribute('herald.delivery.outcome', outcome);
        if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      },
    };
    return runInSpan(span, active, () => run(deliveryTrace));
  }

  /** Runs `run` in a span under `parent`; a thrown error (or rejection) marks the span failed. */
  private inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, parent: Context, run: () => T): T {
    const span = this.tracer.startSpan(name, { kind, attributes }, parent);
    let result: T;
    try {
      result = context.with(trace.setSpan(parent, span), run);
    } catch (err) {
      fail(span, err);
      span.end();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          span.end();
          return value;
        },
        (err: unknown) => {
          fail(span, err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  }
}

/**
 * Only the trace context, and only what has a value: whatever else a propagator writes (a
 * caller's baggage, say) is not the queue's to carry, and SNS and SQS refuse an empty attribute.
 */
function traceContextOf(carrier: Record<string, string>): Record<string, string> {
  const context: Record<string, string> = {};
  for (const name of TRACE_CONTEXT_ATTRIBUTES) {
    const value = carrier[name];
    if (value) context[name] = value;
  }
  return context;
}

/** The attributes OpenTelemetry's messaging conventions ask of every messaging span. */
function messagingAttributes(
  system: MessagingSystem,
  destination: string | undefined,
  operation: 'send' | 'create' | 'process',
): Attributes {
  return {
    'messaging.system': system,
    'messaging.operation.type': operation,
    'messaging.operation.name': operation,
    ...(destination === undefined
      ? {}
      : system === 'gcp_pubsub' && operation === 'process'
        ? { 'messaging.destination.subscription.name': destination }
        : { 'messaging.destination.name': destination }),
  };
}

/**
 * Runs `run` with `active` (which holds `span`) as the current context, then ends the span:
 * failed if `run` rejects, after `beforeEnd` has had its say.
 */
function runInSpan<T>(span: Span, active: Context, run: () => Promise<T>, beforeEnd?: () => void): Promise<T> {
  return context.with(active, async () => {
    try {
      return await run();
    } catch (err) {
      fail(span, err);
      throw err;
    } finally {
      beforeEnd?.();
      span.end();
    }
  });
}

function fail(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * Where a received message's trace context is: its attributes (Pub/Sub; SQS with SNS's raw
 * delivery), or, for SQS fed by SNS without raw delivery, the SNS envelope's MessageAttributes
 * (read only when the body names a traceparent, so other messages are not parsed twice).
 */
function carrierOf(message: TracedMessage): Record<string, string> {
  if (message.attributes.traceparent !== undefined) return { ...message.attributes };
  if (typeof message.body !== 'string' || !message.body.includes('"traceparent"')) return {};
  try {
    const envelope = JSON.parse(message.body) as { Type?: unknown; MessageAttributes?: unknown };
    if (envelope.Type !== 'Notification' || typeof envelope.MessageAttributes !== 'object') return {};
    const carrier: Record<string, string> = {};
    for (const name of TRACE_CONTEXT_ATTRIBUTES) {
      const value = (envelope.MessageAttributes as Record<string, { Value?: unknown } | undefined>)[name]?.Value;
      if (typeof value === 'string') carrier[name] = value;
    }
    return carrier;
  } catch {
    return {};
  }
}
