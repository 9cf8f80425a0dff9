import { z } from 'zod';
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

// Values may arrive as strings after ${VAR} expansion, and FlyteAdmin's own YAML writes some
// numbers as strings (smtpPort: "587"); both are accepted where a number is meant.
const intLike = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );
/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const boolLike = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
const text = z.string();
const nonEmpty = z.string().min(1);
/** `host:port`, an IPv6 host in brackets (`[::1]:9090`). Port 0 asks the system for a free one. */
const LISTEN_ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const listenAddress = z.preprocess(
  // Empty (e.g. `${HERALD_LISTEN:-}`) means no server, like leaving the key out.
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .regex(LISTEN_ADDRESS, 'expected host:port, e.g. 127.0.0.1:9090')
    .refine((v) => Number(LISTEN_ADDRESS.exec(v)?.[1] ?? 0) <= 65535, 'expected a port from 0 to 65535')
    .optional(),
);

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
    serviceName: z.enum(['sendgrid', 'smtp']).optional(),
    apiKeyEnvVar: text.optional(),
    apiKeyFilePath: text.optional(),
    smtpServer: text.optional(),
    smtpPort: intLike(1, 65535).optional(),
    smtpSkipTLSVerify: boolLike.optional(),
    smtpUsername: text.optional(),
    smtpPasswordSecretName: text.optional(),
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
      .optional(),
    region: text.optional(),
    aws: z.object({ region: text.optional() }).strict().optional(),
    gcp: z.object({ projectId: text.optional() }).strict().optional(),
    publisher: z.object({ topicName: text.optional() }).strict().optional(),
    processor: z.object({ queueName: text.optional(), accountId: text.optional() }).strict().optional(),
    emailer: z
      .object({
        subject: text.optional(),
        sender: text.optional(),
        body: text.optional(),
        emailServerConfig: emailServerConfigSchema.optional(),
      })
      .strict()
      .optional(),
    reconnectAttempts: intLike(0).optional(),
    reconnectDelaySeconds: intLike(0).optional(),
  })
  .strict();

/**
 * A JSON payload template: any YAML value whose strings are Handlebars templates, rendered one
 * by one and serialised afterwards, so an event value can never break the JSON.
 */
const jsonTemplate = z.unknown();
// Secrets (`…EnvVar` / `…File` keys below) come from an environment variable or a mounted
// file, never from the YAML itself.

const slackChannelSchema = z
  .object({
    type: z.literal('slack'),
    webhookUrlEnvVar: nonEmpty.optional(),
    webhookUrlFile: nonEmpty.optional(),
    url: httpUrl.optional(),
    text: text.optional(),
    blocks: jsonTemplate.optional(),
  })
  .strict();
const pagerDutyChannelSchema = z
  .object({
    type: z.literal('pagerduty'),
    routingKeyEnvVar: nonEmpty.optional(),
    routingKeyFile: nonEmpty.optional(),
    url: httpUrl.optional(),
    summary: text.optional(),
    severity: z.enum(['critical', 'error', 'warning', 'info']).optional(),
    triggerPhases: z.array(z.enum(PHASES)).min(1).optional(),
    resolvePhases: z.array(z.enum(PHASES)).optional(),
  })
  .strict();
const webhookChannelSchema = z
  .object({
    type: z.literal('webhook'),
    url: httpUrl.optional(),
    urlEnvVar: nonEmpty.optional(),
    urlFile: nonEmpty.optional(),
    method: z.enum(['POST', 'PUT', 'PATCH']).optional(),
    headers: z.record(nonEmpty, text).optional(),
    body: jsonTemplate.optional(),
    signingSecretEnvVar: nonEmpty.optional(),
    signingSecretFile: nonEmpty.optional(),
    signatureHeader: nonEmpty.optional(),
    timeoutMs: intLike(1).optional(),
  })
  .strict();
const jiraChannelSchema = z
  .object({
    type: z.literal('jira'),
    baseUrl: httpUrl,
    project: nonEmpty,
    issueType: nonEmpty.optional(),
    summary: text.optional(),
    description: text.optional(),
    assigneeAccountId: nonEmpty.optional(),
    emailEnvVar: nonEmpty.optional(),
    emailFile: nonEmpty.optional(),
    apiTokenEnvVar: nonEmpty.optional(),
    apiTokenFile: nonEmpty.optional(),
  })
  .strict();

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
    onlyPhases: z.array(z.enum(PHASES)).min(1).optional(),
    ignorePhases: z.array(z.enum(PHASES)).optional(),
    only_states: z.array(z.enum(PHASES)).min(1).optional(),
    ignore_states: z.array(z.enum(PHASES)).optional(),
    project: nonEmpty.optional(),
    domain: nonEmpty.optional(),
    /** Glob on the workflow name (glob.ts): `*` any run of characters, dots included. */
    workflow: nonEmpty.optional(),
    labels: z.record(nonEmpty, text).optional(),
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
      .optional(),
    groupBy: z.array(z.enum(DIGEST_GROUP_FIELDS)).optional(),
    max: intLike(1, 10_000).optional(),
    immediateFirst: boolLike.optional(),
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
    after: z.enum(PHASES).optional(),
    within: durationText.refine((v) => (parseDuration(v) ?? 0) >= 1_000, 'expected at least 1s'),
    /** Templates of the alert (an overdue context: the execution's event as `first`, `window`, `openedAt`). */
    subject: text.optional(),
    body: text.optional(),
  })
  .strict();

/** A routing rule: when an event matches, notify these channels and addresses. */
export const ruleSchema = z
  .object({
    name: nonEmpty,
    match: ruleMatchSchema.optional(),
    notify: z.array(nonEmpty).optional(),
    email: z.array(emailAddressSchema).optional(),
    subject: text.optional(),
    body: text.optional(),
    digest: digestSchema.optional(),
    expect: expectSchema.optional(),
    /**
     * A template whose value a destination hears about once, for as long as the delivery log
     * keeps it (`{{ execution.name }}-{{ phase }}`): later notifications with the same value are
     * logged `suppressed`, not sent.
     */
    oncePer: nonEmpty.optional(),
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
      .optional(),
  })
  .strict();

/** Herald's own settings, beside FlyteAdmin's block. */
export const heraldSchema = z
  .object({
    processor: z
      .object({
        maxInFlight: intLike(1, 10_000).optional(),
        deliveryTimeoutMs: intLike(1, MAX_TIMER_MS).optional(),
        maxAttempts: intLike(1, 99).optional(),
        retryBaseDelayMs: intLike(0, MAX_TIMER_MS).optional(),
        retryMaxDelayMs: intLike(0, MAX_TIMER_MS).optional(),
        shutdownGraceMs: intLike(0, MAX_TIMER_MS).optional(),
        dedupCapacity: intLike(0).optional(),
        eventTemplateBudgetMs: intLike(1, 60_000).optional(),
        input: z.enum(MESSAGE_INPUTS).optional(),
      })
      .strict()
      .optional(),
    emailer: z
      .object({
        provider: z.enum(['ses', 'sendgrid', 'smtp', 'outbox']).optional(),
        text: text.optional(),
        defaultRecipients: z.array(emailAddressSchema).optional(),
        defaultPhases: z.array(z.enum(PHASES)).min(1).optional(),
      })
      .strict()
      .optional(),
    templates: z
      .object({ partials: z.record(nonEmpty, text).optional() })
      .strict()
      .optional(),
    sandbox: z
      .object({
        queueCapacity: intLike(1).optional(),
        deadLetterFile: nonEmpty.optional(),
      })
      .strict()
      .optional(),
    outbox: z.object({ directory: nonEmpty.optional() }).strict().optional(),
    store: z
      .object({
        url: nonEmpty.optional(),
        urlEnvVar: nonEmpty.optional(),
        urlFile: nonEmpty.optional(),
        retentionDays: intLike(1, 3650).optional(),
      })
      .strict()
      .optional(),
    aws: z
      .object({
        endpoint: nonEmpty.optional(),
        deadLetterQueueName: nonEmpty.optional(),
        visibilityTimeoutSeconds: intLike(5, 43_200).optional(),
        waitTimeSeconds: intLike(0, 20).optional(),
        receiveConcurrency: intLike(1, 64).optional(),
        maxReceiveCount: intLike(1, 1000).optional(),
        sesApi: z.enum(['auto', 'v2', 'v1']).optional(),
      })
      .strict()
      .optional(),
    gcp: z
      .object({
        deadLetterTopicName: nonEmpty.optional(),
        orderingByExecution: boolLike.optional(),
        maxOutstandingBytes: intLike(1024).optional(),
        ackDeadlineSeconds: intLike(10, 600).optional(),
        maxDeliveryAttempts: intLike(5, 100).optional(),
        minimumBackoffSeconds: intLike(0, 600).optional(),
        maximumBackoffSeconds: intLike(0, 600).optional(),
      })
      .strict()
      .optional(),
    sendgrid: z.object({ baseUrl: httpUrl.optional() }).strict().optional(),
    http: z
      .object({
        listen: listenAddress,
        ingest: z
          .object({
            enabled: boolLike.optional(),
            tokenEnvVar: nonEmpty.optional(),
            maxBodyBytes: intLike(1024, 64 * 1024 * 1024).optional(),
          })
          .strict()
          .optional(),
        metrics: boolLike.optional(),
      })
      .strict()
      .optional(),
    channels: z.record(nonEmpty, channelSchema).optional(),
    rules: z.array(ruleSchema).optional(),
    /** Storm control for what the event's own notifications and the default recipients reach. */
    eventNotifications: z.object({ digest: digestSchema.optional() }).strict().optional(),
  })
  .strict();

/** The whole file. Other top-level sections (a full FlyteAdmin config has many) are ignored. */
export const configFileSchema = z
  .object({
    notifications: notificationsSchema.optional(),
    herald: heraldSchema.optional(),
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
