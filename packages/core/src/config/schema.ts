import * as z from 'zod';
import { emailAddressSchema } from '../contract/event.js';
import { PHASES } from '../contract/phases.js';
import { httpUrlProblem } from '../contract/urls.js';
import { parseDuration } from './durations.js';

/**
 * What the processor's queue carries: `herald` (Herald's events), `flyteadmin` (the emails
 * FlyteAdmin renders and publishes), `flyteadmin-events` / `flyteadmin-cloudevents` (FlyteAdmin's
 * execution events, from its externalEvents / cloudEvents settings), or `auto`: Herald's events
 * and FlyteAdmin's emails (and cloudEvents v2), told apart by their key.
 */
export const MESSAGE_INPUTS = ['auto', 'herald', 'flyteadmin', 'flyteadmin-events', 'flyteadmin-cloudevents'] as const;

/** One of {@link MESSAGE_INPUTS}. */
export type MessageInput = (typeof MESSAGE_INPUTS)[number];

/**
 * Forms a value may also be written in, beside its own JSON type, that the loader accepts: the
 * JSON Schema for editors (json-schema.ts) offers them too, so a valid file shows no error.
 */
export const writtenForms = z.registry<{ alsoWritten: z.core.JSONSchema.BaseSchema }>();

// Values may arrive as strings after ${VAR} expansion, and FlyteAdmin's own YAML writes some
// numbers as strings (smtpPort: "587"); both are accepted where a number is meant.
const INT_TEXT = /^\s*-?\d+\s*$/;
const intLike = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .preprocess((v) => (typeof v === 'string' && INT_TEXT.test(v) ? Number(v) : v), z.number().int().min(min).max(max))
    .register(writtenForms, { alsoWritten: { type: 'string', pattern: INT_TEXT.source } });
/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const boolLike = z
  .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
  .register(writtenForms, { alsoWritten: { type: 'string', enum: ['true', 'false'] } });
/** A share from 0 to 1, also as text (`"0.25"`, as `${VAR}` expansion leaves it). */
const RATIO_TEXT = /^\s*\d*\.?\d+\s*$/;
const ratioLike = z
  .preprocess((v) => (typeof v === 'string' && RATIO_TEXT.test(v) ? Number(v) : v), z.number().min(0).max(1))
  .register(writtenForms, { alsoWritten: { type: 'string', pattern: RATIO_TEXT.source } });
const text = z.string();
const nonEmpty = z.string().min(1);
/** `host:port`, an IPv6 host in brackets (`[::1]:9090`). Port 0 asks the system for a free one. */
const LISTEN_ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const listenAddress = z
  .preprocess(
    // Empty (e.g. `${HERALD_LISTEN:-}`) means no server, like leaving the key out.
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(LISTEN_ADDRESS, 'expected host:port, e.g. 127.0.0.1:9090')
      .refine((v) => Number(LISTEN_ADDRESS.exec(v)?.[1] ?? 0) <= 65535, 'expected a port from 0 to 65535')
      .optional(),
  )
  .register(writtenForms, { alsoWritten: { type: 'string', maxLength: 0 } });

/**
 * A URL Herald sends requests to: http or https, without `user:password@`. The same check runs
 * on URLs read from secrets (when the loader can read them, and again when a channel sends).
 */
const httpUrl = z.string().superRefine((value, ctx) => {
  const problem = httpUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'invalid_format', format: 'url', message: problem, input: value });
});

/** FlyteAdmin's `notifications.emailer.emailServerConfig`. */
const emailServerConfigSchema = z
  .object({
    serviceName: z
      .enum(['sendgrid', 'smtp'])
      .optional()
      .describe("The emailer: sendgrid or smtp; wins over the type's default emailer."),
    apiKeyEnvVar: text.optional().describe('Environment variable holding the SendGrid API key.'),
    apiKeyFilePath: text.optional().describe('File holding the SendGrid API key.'),
    smtpServer: text.optional().describe('SMTP host.'),
    smtpPort: intLike(1, 65535)
      .optional()
      .describe('SMTP port; a string ("587"), as in FlyteAdmin\'s YAML, is accepted.'),
    smtpSkipTLSVerify: boolLike.optional().describe("Do not verify the SMTP server's TLS certificate."),
    smtpUsername: text.optional().describe('SMTP user name.'),
    smtpPasswordSecretName: text
      .optional()
      .describe(
        'Where the SMTP password is read from: the variable FLYTE_SECRET_<name> or <name>, else the file /etc/secrets/<name> (or this absolute path).',
      ),
  })
  .strict();

/** FlyteAdmin's `notifications:` block, key for key. */
export const notificationsSchema = z
  .object({
    // FlyteAdmin treats any type it does not know, `none` among them, as local (no notifications);
    // Herald reads `none` as `local` and refuses other unknown types, which are more likely typos.
    type: z
      .enum(['aws', 'gcp', 'sandbox', 'local', 'none'])
      .transform((type) => (type === 'none' ? 'local' : type))
      .optional()
      .describe(
        'aws (SNS → SQS, SES), gcp (Pub/Sub), sandbox (in-process queue, emails written as .eml files) or local (disabled; none means the same). Default: local.',
      ),
    region: text.optional().describe('Deprecated alias of aws.region.'),
    aws: z
      .object({ region: text.optional().describe('AWS region; AWS_REGION / AWS_DEFAULT_REGION are used when unset.') })
      .strict()
      .optional(),
    gcp: z
      .object({ projectId: text.optional().describe('Google Cloud project.') })
      .strict()
      .optional(),
    publisher: z
      .object({ topicName: text.optional().describe('SNS topic ARN, or Pub/Sub topic name.') })
      .strict()
      .optional(),
    processor: z
      .object({
        queueName: text.optional().describe('SQS queue name, or Pub/Sub subscription name.'),
        accountId: text.optional().describe('AWS account that owns the SQS queue.'),
      })
      .strict()
      .optional(),
    emailer: z
      .object({
        subject: text
          .optional()
          .describe(
            "Subject template (Handlebars; FlyteAdmin's {{ name }}, {{ phase }}… placeholders keep their meaning).",
          ),
        sender: text.optional().describe('From address.'),
        body: text.optional().describe('HTML body template.'),
        emailServerConfig: emailServerConfigSchema
          .optional()
          .describe("SendGrid or SMTP instead of the type's emailer."),
      })
      .strict()
      .optional(),
    reconnectAttempts: intLike(0).optional().describe('Start-up retries of the transport. Default: 0.'),
    reconnectDelaySeconds: intLike(0).optional().describe('Seconds between start-up retries. Default: 0.'),
  })
  .strict();

/**
 * A JSON payload template: any YAML value whose strings are Handlebars templates, rendered one
 * by one and serialised afterwards, so an event value can never break the JSON.
 */
const jsonTemplate = z.unknown();
// Secrets (`…EnvVar` / `…File` keys below) come from an environment variable or a mounted
// file, never from the YAML itself.
const secretEnvVar = (what: string) => nonEmpty.optional().describe(`Environment variable holding ${what}.`);
const secretFile = (what: string) => nonEmpty.optional().describe(`File holding ${what}.`);

const slackChannelSchema = z
  .object({
    type: z.literal('slack'),
    webhookUrlEnvVar: secretEnvVar('the incoming webhook URL'),
    webhookUrlFile: secretFile('the incoming webhook URL'),
    url: httpUrl.optional().describe('The incoming webhook URL itself (it is a secret: prefer the two above).'),
    text: text.optional().describe('Message text template.'),
    blocks: jsonTemplate.optional().describe('Block Kit blocks; every string in them is a template.'),
  })
  .strict()
  .describe('A Slack incoming webhook.');
const pagerDutyChannelSchema = z
  .object({
    type: z.literal('pagerduty'),
    routingKeyEnvVar: secretEnvVar('the integration routing key'),
    routingKeyFile: secretFile('the integration routing key'),
    url: httpUrl.optional().describe('Events API URL. Default: https://events.pagerduty.com/v2/enqueue.'),
    summary: text.optional().describe('Alert summary template.'),
    severity: z.enum(['critical', 'error', 'warning', 'info']).optional(),
    triggerPhases: z
      .array(z.enum(PHASES))
      .min(1)
      .optional()
      .describe('Phases that trigger an alert. Default: FAILED, TIMED_OUT.'),
    resolvePhases: z.array(z.enum(PHASES)).optional().describe('Phases that resolve it. Default: SUCCEEDED.'),
  })
  .strict()
  .describe('A PagerDuty Events v2 integration.');
const webhookChannelSchema = z
  .object({
    type: z.literal('webhook'),
    url: httpUrl.optional().describe('Where requests go (http or https).'),
    urlEnvVar: secretEnvVar('the URL'),
    urlFile: secretFile('the URL'),
    method: z.enum(['POST', 'PUT', 'PATCH']).optional(),
    headers: z.record(nonEmpty, text).optional(),
    body: jsonTemplate.optional().describe('JSON body; every string in it is a template. Default: the event.'),
    signingSecretEnvVar: secretEnvVar('the HMAC signing secret'),
    signingSecretFile: secretFile('the HMAC signing secret'),
    signatureHeader: nonEmpty.optional().describe('Default: X-Herald-Signature-256.'),
    timeoutMs: intLike(1).optional().describe('Default: 10000.'),
  })
  .strict()
  .describe('An HTTP request to any URL.');
const jiraChannelSchema = z
  .object({
    type: z.literal('jira'),
    baseUrl: httpUrl.describe('The Jira site, e.g. https://example.atlassian.net.'),
    project: nonEmpty.describe('Project key.'),
    issueType: nonEmpty.optional().describe('Default: Bug.'),
    summary: text.optional().describe('Issue summary template.'),
    description: text.optional().describe('Issue description template.'),
    assigneeAccountId: nonEmpty.optional(),
    emailEnvVar: secretEnvVar("the API user's email"),
    emailFile: secretFile("the API user's email"),
    apiTokenEnvVar: secretEnvVar('the API token'),
    apiTokenFile: secretFile('the API token'),
  })
  .strict()
  .describe('A Jira issue, created per notification.');

/** One named destination that is not email. */
export const channelSchema = z.discriminatedUnion('type', [
  slackChannelSchema,
  pagerDutyChannelSchema,
  webhookChannelSchema,
  jiraChannelSchema,
]);

/** What a rule matches. Prefect's only_states / ignore_states are accepted as they are. */
const ruleMatchSchema = z
  .object({
    onlyPhases: z.array(z.enum(PHASES)).min(1).optional().describe('The phases the rule applies to. Default: all.'),
    ignorePhases: z.array(z.enum(PHASES)).optional().describe('Phases the rule never applies to.'),
    only_states: z.array(z.enum(PHASES)).min(1).optional().describe("Prefect's name for onlyPhases."),
    ignore_states: z.array(z.enum(PHASES)).optional().describe("Prefect's name for ignorePhases."),
    project: nonEmpty.optional().describe('The project, exactly.'),
    domain: nonEmpty.optional().describe('The domain, exactly.'),
    /** Glob on the workflow name (glob.ts): `*` any run of characters, dots included. */
    workflow: nonEmpty
      .optional()
      .describe(
        'Glob on the workflow name: * any run of characters (dots included), ?, {a,b}, [abc], a leading ! negates.',
      ),
    labels: z.record(nonEmpty, text).optional().describe('Every listed label must have this value.'),
  })
  .strict();

/** A duration such as `30s`, `10m`, `2h`, `1d` (or `1h30m`). */
const durationText = z
  .string({ error: 'expected a duration such as 30s, 10m, 2h or 1d' })
  .refine((v) => parseDuration(v) !== undefined, 'expected a duration such as 30s, 10m, 2h or 1d');

/** What a digest can group events by, beside its destination. */
export const DIGEST_GROUP_FIELDS = ['project', 'domain', 'workflow', 'phase', 'execution'] as const;

/**
 * Folds the notifications a destination would get within a window into one message: the first
 * matching event opens a group, the others join it, and one message lists them when the window
 * ends (or when `max` events have joined).
 */
const digestSchema = z
  .object({
    window: durationText
      .refine((v) => {
        // Text that is no duration at all was refused above, once.
        const ms = parseDuration(v);
        return ms === undefined || (ms >= 1_000 && ms <= 7 * 86_400_000);
      }, 'expected a window from 1s to 7d')
      .optional()
      .describe(
        'How long a group stays open after the event that opened it: 1s to 7d (30s, 10m, 1h30m). Default: 10m.',
      ),
    groupBy: z.array(z.enum(DIGEST_GROUP_FIELDS)).optional().describe('Events join one group when these are equal.'),
    max: intLike(1, 10_000).optional().describe('The most events one digest holds. Default: 1000.'),
    immediateFirst: boolLike.optional().describe('Send the event that opens a group at once. Default: false.'),
    /** Templates of the digest message (a digest's context: count, events, first, last, phases). */
    subject: text.optional(),
    body: text.optional(),
  })
  .strict();

/**
 * Alerts when an execution the rule matches reaches `after` (RUNNING) and does not end within
 * `within`: the rule's destinations hear that it is still running.
 */
const expectSchema = z
  .object({
    after: z.enum(PHASES).optional().describe('The phase that starts the clock. Default: RUNNING.'),
    within: durationText
      .refine((v) => (parseDuration(v) ?? 0) >= 1_000, 'expected at least 1s')
      .describe('How long a matched execution may stay there (at least 1s: 30m, 2h).'),
    /** Templates of the alert (an overdue context: the execution's event as `first`, `window`, `openedAt`). */
    subject: text.optional(),
    body: text.optional(),
  })
  .strict();

/** A routing rule: when an event matches, notify these channels and addresses. */
export const ruleSchema = z
  .object({
    name: nonEmpty.describe(
      'Unique; shown in logs and herald render, and the identity of what the rule keeps in the store.',
    ),
    match: ruleMatchSchema.optional().describe('Which events the rule applies to. Default: every event.'),
    notify: z.array(nonEmpty).optional().describe('Channel names under herald.channels.'),
    email: z.array(emailAddressSchema).optional().describe('Addresses to email.'),
    subject: text.optional().describe("Subject template of this rule's emails."),
    body: text.optional().describe("HTML body template of this rule's emails."),
    digest: digestSchema
      .optional()
      .describe("Fold this rule's notifications into one message per window (needs herald.store)."),
    expect: expectSchema
      .optional()
      .describe('Alert when a matched execution does not end in time (needs herald.store).'),
    /**
     * A template whose value a destination hears about once, for as long as the delivery log
     * keeps it (`{{ execution.name }}-{{ phase }}`): later notifications with the same value are
     * logged `suppressed`, not sent.
     */
    oncePer: nonEmpty
      .optional()
      .describe('A template: one notification per value and destination (needs herald.store).'),
    /** At most `max` notifications per destination in each period of `per`; the rest fold into a digest sent when the period ends. */
    rateLimit: z
      .object({
        max: intLike(1, 1_000_000),
        per: durationText.refine((v) => {
          const ms = parseDuration(v);
          return ms === undefined || (ms >= 1_000 && ms <= 7 * 86_400_000);
        }, 'expected a period from 1s to 7d'),
      })
      .strict()
      .optional()
      .describe(
        'At most max notifications per destination each period per; the rest in one message after it (needs herald.store).',
      ),
  })
  .strict();

/** Herald's own settings, beside FlyteAdmin's block. */
export const heraldSchema = z
  .object({
    processor: z
      .object({
        maxInFlight: intLike(1, 10_000)
          .optional()
          .describe('Messages handled at once; receiving pauses when this many are in flight. Default: 64.'),
        deliveryTimeoutMs: intLike(1, MAX_TIMER_MS)
          .optional()
          .describe('One send is aborted after this (at most a second later) and retried. Default: 30000.'),
        maxAttempts: intLike(1, 99)
          .optional()
          .describe('Receives of a message before its still-failing destinations are dead-lettered. Default: 8.'),
        retryBaseDelayMs: intLike(0, MAX_TIMER_MS)
          .optional()
          .describe('First retry delay; doubles per attempt, with jitter. Default: 1000.'),
        retryMaxDelayMs: intLike(0, MAX_TIMER_MS)
          .optional()
          .describe('Longest retry delay (not below retryBaseDelayMs). Default: 300000.'),
        shutdownGraceMs: intLike(0, MAX_TIMER_MS)
          .optional()
          .describe(
            'On SIGTERM, in-flight work gets this long before it is cancelled and handed back. Default: 30000.',
          ),
        dedupCapacity: intLike(0)
          .optional()
          .describe('Delivered (event, destination) pairs remembered to suppress duplicates. Default: 100000.'),
        eventTemplateBudgetMs: intLike(1, 60_000)
          .optional()
          .describe("Longest an event's own subject or body may render; else it is dead-lettered. Default: 1000."),
        input: z
          .enum(MESSAGE_INPUTS)
          .optional()
          .describe(
            "What the queue carries: Herald's events, FlyteAdmin's emails or execution events, or auto. Default: auto.",
          ),
      })
      .strict()
      .optional()
      .describe('How the processor receives and delivers.'),
    emailer: z
      .object({
        provider: z
          .enum(['ses', 'sendgrid', 'smtp', 'outbox'])
          .optional()
          .describe('Force an emailer. Default: chosen from notifications.'),
        text: text.optional().describe('Plain-text body template. Default: derived from the HTML body.'),
        defaultRecipients: z
          .array(emailAddressSchema)
          .optional()
          .describe("Addresses told about every event in defaultPhases, beside the event's own."),
        defaultPhases: z
          .array(z.enum(PHASES))
          .min(1)
          .optional()
          .describe('Phases for the default recipients. Default: SUCCEEDED, FAILED, TIMED_OUT, ABORTED.'),
      })
      .strict()
      .optional(),
    templates: z
      .object({ partials: z.record(nonEmpty, text).optional().describe('Handlebars partials by name ({{> name}}).') })
      .strict()
      .optional(),
    sandbox: z
      .object({
        queueCapacity: intLike(1)
          .optional()
          .describe('Messages the in-process queue holds; beyond that publishing fails at once. Default: 10000.'),
        deadLetterFile: nonEmpty
          .optional()
          .describe('JSON-lines file of dead-lettered messages. Default: <outbox.directory>/dead-letter.jsonl.'),
      })
      .strict()
      .optional(),
    outbox: z
      .object({
        directory: nonEmpty
          .optional()
          .describe('Where the outbox emailer writes .eml files (relative to the config file). Default: ./outbox.'),
      })
      .strict()
      .optional(),
    store: z
      .object({
        url: nonEmpty.optional().describe('sqlite:PATH (relative to the config file) or postgres://…'),
        urlEnvVar: secretEnvVar('the URL (it may hold a password)'),
        urlFile: secretFile('the URL'),
        retentionDays: intLike(1, 3650)
          .optional()
          .describe(
            'How long a delivery stays in the log after it last changed (an attempt, or how it ended). Default: 14.',
          ),
      })
      .strict()
      .optional()
      .describe(
        'The delivery log, shared by every replica on it. Default: none (memory); the sandbox keeps a SQLite file.',
      ),
    aws: z
      .object({
        endpoint: nonEmpty
          .optional()
          .describe('One endpoint for SNS, SQS and SES. Default: AWS_ENDPOINT_URL… from the environment.'),
        deadLetterQueueName: nonEmpty.optional().describe('The SQS dead-letter queue. Default: <queueName>-dlq.'),
        visibilityTimeoutSeconds: intLike(5, 43_200)
          .optional()
          .describe('How long a received message stays hidden; extended while it is delivered. Default: 30.'),
        waitTimeSeconds: intLike(0, 20).optional().describe('SQS long-poll wait. Default: 20.'),
        receiveConcurrency: intLike(1, 64).optional().describe('ReceiveMessage calls in flight at once. Default: 4.'),
        maxReceiveCount: intLike(1, 1000)
          .optional()
          .describe('The redrive policy herald infra up sets on the queue. Default: processor.maxAttempts + 1.'),
        sesApi: z.enum(['auto', 'v2', 'v1']).optional().describe('Default: auto (SESv2, falling back to v1).'),
      })
      .strict()
      .optional()
      .describe("SNS, SQS and SES beyond FlyteAdmin's keys."),
    gcp: z
      .object({
        deadLetterTopicName: nonEmpty.optional().describe('Pub/Sub dead-letter topic. Default: <topicName>-dlq.'),
        orderingByExecution: boolLike
          .optional()
          .describe('Publish with the execution as ordering key. Default: false.'),
        maxOutstandingBytes: intLike(1024).optional().describe('Subscriber flow control. Default: 100 MiB.'),
        ackDeadlineSeconds: intLike(10, 600)
          .optional()
          .describe("The subscription's ack deadline (herald infra up). Default: 60."),
        maxDeliveryAttempts: intLike(5, 100)
          .optional()
          .describe("The subscription's dead-letter policy. Default: processor.maxAttempts + 1."),
        minimumBackoffSeconds: intLike(0, 600).optional().describe("The subscription's retry policy. Default: 10."),
        maximumBackoffSeconds: intLike(0, 600).optional().describe("The subscription's retry policy. Default: 600."),
      })
      .strict()
      .optional()
      .describe("Pub/Sub beyond FlyteAdmin's keys."),
    sendgrid: z
      .object({
        baseUrl: httpUrl
          .optional()
          .describe('SendGrid API base URL; HERALD_SENDGRID_BASE_URL wins over it. Default: https://api.sendgrid.com.'),
      })
      .strict()
      .optional(),
    http: z
      .object({
        listen: listenAddress.describe(
          'host:port to listen on (127.0.0.1:9090, [::1]:9090); absent or empty: no server.',
        ),
        ingest: z
          .object({
            enabled: boolLike.optional().describe('Accept events at POST /v1/events. Default: false.'),
            tokenEnvVar: nonEmpty
              .optional()
              .describe('Environment variable holding the bearer token requests must send. Default: none asked for.'),
            maxBodyBytes: intLike(1024, 64 * 1024 * 1024)
              .optional()
              .describe('Longest request body read; a longer one is refused with 413. Default: 1048576.'),
          })
          .strict()
          .optional(),
        metrics: boolLike
          .optional()
          .describe('Serve Prometheus metrics at GET /metrics. Default: true when listen is set.'),
      })
      .strict()
      .optional()
      .describe('The HTTP server of herald run: ingest, metrics, health checks.'),
    tracing: z
      .object({
        enabled: boolLike
          .optional()
          .describe(
            'Export OpenTelemetry traces. Default: on when OTEL_TRACES_EXPORTER=otlp or an OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; OTEL_SDK_DISABLED=true turns it off.',
          ),
        endpoint: httpUrl
          .optional()
          .describe(
            'OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces. Default: from the OTEL_EXPORTER_OTLP_* variables, else http://localhost:4318/v1/traces.',
          ),
        serviceName: nonEmpty.optional().describe("The spans' service.name. Default: OTEL_SERVICE_NAME, else herald."),
        sampleRatio: ratioLike
          .optional()
          .describe(
            'Share (0 to 1) of the traces Herald starts that are recorded; a message carrying a trace follows its sampling. Default: OTEL_TRACES_SAMPLER, else all.',
          ),
      })
      .strict()
      .optional()
      .describe('OpenTelemetry traces from publish through the queue to each delivery.'),
    channels: z
      .record(nonEmpty, channelSchema)
      .optional()
      .describe('Named Slack, PagerDuty, webhook and Jira destinations, for rules and events to notify.'),
    rules: z
      .array(ruleSchema)
      .optional()
      .describe('Routing rules, applied in order: when an event matches, notify these channels and addresses.'),
    /** Storm control for what the event's own notifications and the default recipients reach. */
    eventNotifications: z
      .object({ digest: digestSchema.optional() })
      .strict()
      .optional()
      .describe("Storm control for what the event's own notifications and emailer.defaultRecipients reach."),
  })
  .strict();

/** The whole file. Other top-level sections (a full FlyteAdmin config has many) are ignored. */
export const configFileSchema = z
  .object({
    notifications: notificationsSchema.optional().describe("FlyteAdmin's notifications block, key for key."),
    herald: heraldSchema.optional().describe("Herald's own settings, beside FlyteAdmin's block."),
  })
  .loose();

/** A channel as written in `herald.channels`. */
export type ChannelConfig = z.infer<typeof channelSchema>;
/** The kinds of channel `herald.channels` knows: declared once, by the schema. */
export type ChannelType = ChannelConfig['type'];
/** A digest as written on a rule or in `herald.eventNotifications`. */
export type DigestConfig = z.infer<typeof digestSchema>;
/** A rule as written in `herald.rules`. */
export type RuleConfig = z.infer<typeof ruleSchema>;

/** The config file as written, after validation. */
export type ConfigFile = z.infer<typeof configFileSchema>;
