import type { Phase } from '../contract/phases.js';
import type { ChannelConfig, ChannelType, DIGEST_GROUP_FIELDS, MessageInput, RuleConfig } from './schema.js';

/** Where notifications travel: FlyteAdmin's `notifications.type`. */
export type TransportType = 'aws' | 'gcp' | 'sandbox' | 'local';
/** Which emailer delivers email. `none` only for `type: local` (notifications disabled). */
export type EmailProvider = 'ses' | 'sendgrid' | 'smtp' | 'outbox' | 'none';

/** FlyteAdmin's `emailServerConfig`, with its defaults applied. */
export interface ResolvedEmailServerConfig {
  serviceName: 'sendgrid' | 'smtp' | undefined;
  apiKeyEnvVar: string;
  apiKeyFilePath: string;
  smtpServer: string;
  smtpPort: number | undefined;
  smtpSkipTLSVerify: boolean;
  smtpUsername: string;
  smtpPasswordSecretName: string;
}

/**
 * A fully validated configuration with every default applied. Code past the loader takes this
 * and never checks for missing fields.
 */
export interface ResolvedConfig {
  /** The file it came from, or `<embedded sandbox default>`. */
  source: string;
  type: TransportType;
  aws: { region: string };
  gcp: { projectId: string };
  publisher: { topicName: string };
  processor: { queueName: string; accountId: string };
  reconnect: { attempts: number; delaySeconds: number };
  emailer: {
    provider: EmailProvider;
    sender: string;
    subject: string;
    /** HTML body template. */
    body: string;
    /** Plain-text body template; derived from `body` when undefined. */
    text: string | undefined;
    defaultRecipients: string[];
    defaultPhases: Phase[];
    server: ResolvedEmailServerConfig;
  };
  templates: { partials: Record<string, string> };
  processing: {
    maxInFlight: number;
    deliveryTimeoutMs: number;
    maxAttempts: number;
    retryBaseDelayMs: number;
    retryMaxDelayMs: number;
    shutdownGraceMs: number;
    dedupCapacity: number;
    /** Time budget of the templates an event carries for one email (compile + render). */
    eventTemplateBudgetMs: number;
    /** What the processor's queue carries (see MESSAGE_INPUTS). */
    input: MessageInput;
  };
  sandbox: { queueCapacity: number; deadLetterFile: string };
  /** AWS transport settings (Herald's own; FlyteAdmin's keys are above). */
  awsTransport: {
    /** Endpoint for every AWS client; undefined leaves it to the SDK (AWS_ENDPOINT_URL…). */
    endpoint: string | undefined;
    deadLetterQueueName: string;
    visibilityTimeoutSeconds: number;
    waitTimeSeconds: number;
    receiveConcurrency: number;
    /** The redrive policy `herald infra up` sets: receives before SQS moves a message to the DLQ. */
    maxReceiveCount: number;
    sesApi: 'auto' | 'v2' | 'v1';
  };
  /** Google Cloud Pub/Sub transport settings (Herald's own). */
  gcpTransport: {
    deadLetterTopicName: string;
    orderingByExecution: boolean;
    maxOutstandingBytes: number;
    ackDeadlineSeconds: number;
    /** The subscription's dead-letter policy `herald infra up` sets (Pub/Sub allows 5–100). */
    maxDeliveryAttempts: number;
    minimumBackoffSeconds: number;
    maximumBackoffSeconds: number;
  };
  sendgrid: { baseUrl: string };
  /** The HTTP server of `herald run`: ingest endpoint, metrics and health checks. */
  http: ResolvedHttpConfig;
  tracing: ResolvedTracingConfig;
  /** Named non-email destinations, as written (secrets are read when a channel is built). */
  channels: Record<string, ChannelConfig>;
  /**
   * Key paths (`herald.channels.alerts.url`) whose value `\${VAR}` filled, in whole or in part:
   * such a value may be a secret, so `herald render` masks it like one.
   */
  fromEnvironment: ReadonlySet<string>;
  /** Storm control for the destinations the event's own notifications and the default recipients reach. */
  eventNotifications: { digest: ResolvedDigest | undefined };
  /** Routing rules in order; Prefect's only_states / ignore_states folded into onlyPhases / ignorePhases. */
  rules: ResolvedRule[];
  outbox: { directory: string };
  /**
   * The delivery log, shared by replicas: a SQLite file (`url: sqlite:…`, relative paths
   * resolved against the config file) or PostgreSQL (`postgres://…`, usually from a secret).
   * Undefined: deliveries are remembered in memory only, as long as the process runs.
   */
  store:
    | {
        /** Written in the file, or the sandbox's default (a SQLite file in the outbox directory). */
        url?: string | undefined;
        /** Where the URL is read from when it holds a password. */
        urlSecret?: { envVar?: string | undefined; filePath?: string | undefined } | undefined;
        retentionDays: number;
      }
    | undefined;
  /** Things that are allowed but probably not meant (deprecated or unknown keys). */
  warnings: string[];
}

/** `herald.http`, with its defaults applied. */
export interface ResolvedHttpConfig {
  /** Where the server listens (IPv6 hosts without brackets); undefined: no server at all. */
  listen: { host: string; port: number } | undefined;
  ingest: {
    /** Whether `POST /v1/events` publishes events. */
    enabled: boolean;
    /** The environment variable holding the bearer token requests must carry; undefined: none. */
    tokenEnvVar: string | undefined;
    /** Longest request body read; a longer one is refused with 413. */
    maxBodyBytes: number;
  };
  /** Whether `GET /metrics` serves Prometheus metrics (never without `listen`). */
  metrics: boolean;
}

/**
 * `herald.tracing` with OpenTelemetry's standard variables applied (the file wins over them).
 * Off unless the file turns it on or the environment names an exporter or an endpoint, so a
 * process that nobody collects traces from pays nothing for them.
 */
export interface ResolvedTracingConfig {
  enabled: boolean;
  /**
   * Where spans go, by OTLP over HTTP (JSON) (the full URL, `…/v1/traces`); undefined: the exporter's own reading
   * of OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, else localhost:4318.
   */
  endpoint: string | undefined;
  /**
   * `service.name` of every span, as the file says it; undefined: OTEL_SERVICE_NAME, else
   * OTEL_RESOURCE_ATTRIBUTES' service.name, else `herald`.
   */
  serviceName: string | undefined;
  /**
   * The share of traces Herald starts that are recorded; a trace begun upstream (a message
   * carrying `traceparent`) follows the upstream decision. Undefined: OTEL_TRACES_SAMPLER's, else all.
   */
  sampleRatio: number | undefined;
}

/** A routing rule with its match resolved. */
export interface ResolvedRule {
  name: string;
  onlyPhases: Phase[] | undefined;
  ignorePhases: Phase[];
  project: string | undefined;
  domain: string | undefined;
  /** The workflow-name glob, compiled once (glob.ts says what it matches). */
  workflow: RegExp | undefined;
  labels: Record<string, string>;
  notify: string[];
  email: string[];
  subject: string | undefined;
  body: string | undefined;
  /** Fold this rule's notifications into digests; undefined: each is sent as it comes. */
  digest: ResolvedDigest | undefined;
  /** Alert when a matched execution does not end in time. */
  expect: ResolvedExpect | undefined;
  /** The send-once key's template: one delivery per value and destination. */
  oncePer: string | undefined;
  /** At most `max` notifications per destination each `perMs`; the rest fold into a digest. */
  rateLimit: { max: number; perMs: number } | undefined;
}

/** `expect` with its defaults applied. */
export interface ResolvedExpect {
  /** The phase that starts the clock. */
  after: Phase;
  withinMs: number;
  subject: string | undefined;
  body: string | undefined;
}

/** What a digest may group by, beside its destination. */
export type DigestGroupField = (typeof DIGEST_GROUP_FIELDS)[number];

/** A digest with its defaults applied. */
export interface ResolvedDigest {
  /** How long a group stays open after the event that opened it. */
  windowMs: number;
  /** Events join one group when these fields are equal (and the destination is the same). */
  groupBy: DigestGroupField[];
  /** Most events one digest holds: the one that fills it sends it at once. */
  max: number;
  /** Send the event that opens a group at once, and fold only the ones after it. */
  immediateFirst: boolean;
  /** The digest message's templates; undefined: Herald's. */
  subject: string | undefined;
  body: string | undefined;
}

export type { ChannelConfig, ChannelType, MessageInput, RuleConfig };
