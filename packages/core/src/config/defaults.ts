import type { Phase } from '../contract/phases.js';
import { DEFAULT_EVENT_TEMPLATE_BUDGET_MS } from '../templates/renderer.js';
import type { MessageInput } from './schema.js';

/**
 * Every default of Herald's configuration, in one place. Durations carry their unit in the name.
 * FlyteAdmin's own keys keep FlyteAdmin's defaults, except where FlyteAdmin's default is an
 * empty subject/body/sender: Herald ships readable ones instead.
 */
export const CONFIG_DEFAULTS = {
  /** FlyteAdmin's default: notifications disabled (no-op publisher and processor). */
  type: 'local',
  /** FlyteAdmin defaults both to 0: one attempt, no wait. */
  reconnectAttempts: 0,
  reconnectDelaySeconds: 0,
  emailer: {
    subject: 'Notice: Execution "{{ name }}" has {{ phase }} in "{{ domain }}".',
    sender: 'flyte-notifications@example.com',
    body:
      'Execution "{{ name }}" has {{ phase }} in "{{ domain }}".' +
      '{{#if url}} View details at <a href="{{ url }}">{{ url }}</a>.{{/if}}{{ error }}',
    /** Recipients added to every event in `defaultPhases`, beside the event's own. */
    defaultRecipients: [] as string[],
    defaultPhases: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as Phase[],
  },
  processor: {
    /** Messages handled at once; receiving pauses when this many are in flight. */
    maxInFlight: 64,
    /** One delivery attempt is aborted after this long (at most a second more) and counts as a transient failure. */
    deliveryTimeoutMs: 30_000,
    /** Deliveries of a message are attempted this many times before it is dead-lettered. */
    maxAttempts: 8,
    /** First retry waits this long, doubling each attempt (with jitter) up to retryMaxDelayMs. */
    retryBaseDelayMs: 1_000,
    retryMaxDelayMs: 300_000,
    /** On SIGTERM, in-flight deliveries get this long to finish before the rest is handed back. */
    shutdownGraceMs: 30_000,
    /** Delivered (event id, destination) pairs remembered to suppress duplicates on redelivery. */
    dedupCapacity: 100_000,
    /**
     * Longest the templates an event carries for one email may take to compile and render (in
     * a worker thread, which is terminated when they run over; the email is then dead-lettered).
     * A hand-written template takes well under 10 ms; a second is generous for any of them and
     * still short beside SQS's visibility timeout and the delivery timeout.
     */
    eventTemplateBudgetMs: DEFAULT_EVENT_TEMPLATE_BUDGET_MS,
    /**
     * What the queue carries: `auto` reads Herald's events and FlyteAdmin's rendered emails
     * (told apart by the key FlyteAdmin publishes under), so Herald can take over FlyteAdmin's
     * notifications queue as it is. FlyteAdmin's execution events need their mode named.
     */
    input: 'auto' as MessageInput,
  },
  digest: {
    window: '10m',
    /**
     * Large enough that a storm within one window is one message; a template lists the first
     * few (see the digest context's `listed` and `more`).
     */
    max: 1_000,
  },
  store: {
    /** How long the delivery log keeps a delivery after it last changed (an attempt, its settlement). */
    retentionDays: 14,
    /** The sandbox's delivery log, in its outbox directory: removing the outbox starts afresh. */
    sandboxFile: 'herald.db',
  },
  sandbox: {
    /** Messages the in-memory queue holds before publishing is refused (never blocks). */
    queueCapacity: 10_000,
  },
  outbox: {
    directory: './outbox',
  },
  aws: {
    /** How long a received SQS message stays invisible; extended while it is still being delivered. */
    visibilityTimeoutSeconds: 30,
    /** SQS long-poll wait (the maximum SQS allows). */
    waitTimeSeconds: 20,
    /** ReceiveMessage calls in flight at once, each returning up to 10 messages. */
    receiveConcurrency: 4,
    /** `auto` tries SESv2 SendEmail and falls back to v1 where an endpoint lacks v2. */
    sesApi: 'auto',
  },
  gcp: {
    /** Pub/Sub publishes in order per execution only when asked: ordering costs throughput. */
    orderingByExecution: false,
    /** Bytes of messages the subscriber holds at once (flow control beside maxInFlight). */
    maxOutstandingBytes: 100 * 1024 * 1024,
    ackDeadlineSeconds: 60,
    /** Redelivery backoff of the subscription's retry policy, set by `herald infra up`. */
    minimumBackoffSeconds: 10,
    maximumBackoffSeconds: 600,
  },
  sendgrid: {
    /** SendGrid's global API; the EU region is https://api.eu.sendgrid.com. */
    baseUrl: 'https://api.sendgrid.com',
  },
  http: {
    /** No `listen`, no server. Events are published through the queue's own API or `herald publish`. */
    ingest: {
      /** The ingest endpoint is opened only on request: it lets anyone who reaches it publish. */
      enabled: false,
      /** 1 MiB: a few thousand events per request. */
      maxBodyBytes: 1024 * 1024,
    },
    /** Prometheus metrics are served whenever there is a server. */
    metrics: true,
  },
} as const;
