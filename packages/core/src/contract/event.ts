import * as z from 'zod';
import { PHASES } from './phases.js';

/** Wire format version this build writes and reads. */
export const EVENT_VERSION = 1;

const nonEmpty = z.string().min(1);

/**
 * An email address as it may appear in a recipient list. Deliberately loose (RFC 5322 allows a
 * lot), but never whitespace or line breaks, so an address can never smuggle in a header.
 */
export const emailAddressSchema = z
  .string()
  .regex(/^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+$/, { message: 'expected an email address' });

const identifierSchema = z
  .object({
    project: z.string(),
    domain: z.string(),
    name: z.string(),
    version: z.string().optional(),
  })
  .loose();

/**
 * A phase as Flyte writes it: its name, or its number in `core.WorkflowExecution.Phase` (protojson
 * and FlyteAdmin's REST gateway accept both), read as the name.
 */
const phaseSchema = z.preprocess(
  (value) => (typeof value === 'number' && Number.isInteger(value) ? (PHASES[value] ?? value) : value),
  z.enum(PHASES),
);

/**
 * Flyte's spellings of a notification, read as Herald's: protojson writes `recipientsEmail` and
 * `pagerDuty`, FlyteAdmin's REST gateway `recipients_email`, `pager_duty` and an empty
 * `template`; a non-empty `template` is the body FlyteAdmin would use. Herald's own names win
 * where both are given.
 */
function fromFlyteSpelling(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const notification: Record<string, unknown> = { ...value };
  if (notification.pagerDuty === undefined && notification.pager_duty !== undefined) {
    notification.pagerDuty = notification.pager_duty;
    delete notification.pager_duty;
  }
  for (const kind of ['email', 'slack', 'pagerDuty'] as const) {
    const target = notification[kind];
    if (!isRecord(target)) continue;
    const { recipients_email, recipientsEmail, template, ...rest } = target;
    const read: Record<string, unknown> = { ...rest };
    read.recipients ??= recipients_email ?? recipientsEmail;
    if (typeof template === 'string' && template !== '') read.body ??= template;
    notification[kind] = read;
  }
  return notification;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Flyte's EmailNotification, plus optional subject/body overrides (FlyteAdmin drops these). */
export const emailNotificationSchema = z
  .object({
    recipients: z.array(emailAddressSchema).min(1),
    subject: z.string().optional(),
    body: z.string().optional(),
  })
  .loose();

/**
 * A Slack, PagerDuty or webhook destination: Flyte's form, addresses to email (Slack and
 * PagerDuty email bridges), and/or Herald's, a channel named in `herald.channels`. One with
 * neither would send nothing, so it is refused rather than acknowledged with nothing sent.
 */
const channelNotificationSchema = z
  .object({
    recipients: z.array(emailAddressSchema).min(1).optional(),
    channel: nonEmpty.optional(),
  })
  .loose()
  .refine((target) => target.recipients !== undefined || target.channel !== undefined, {
    message: 'expected recipients (email addresses) or channel (a name in herald.channels)',
  });

/** One entry of the event's own `notifications`: which phases, and one destination. */
export const notificationSchema = z.preprocess(
  fromFlyteSpelling,
  z
    .object({
      phases: z.array(phaseSchema).min(1),
      email: emailNotificationSchema.optional(),
      slack: channelNotificationSchema.optional(),
      pagerDuty: channelNotificationSchema.optional(),
      webhook: channelNotificationSchema.optional(),
    })
    .loose()
    .refine((n) => n.email || n.slack || n.pagerDuty || n.webhook, {
      message: 'expected one destination: email, slack, pagerDuty or webhook',
    }),
);

const isoDateTime = z.iso.datetime({ offset: true });

/**
 * The execution's console link, which templates put into an `href`: only http and https may
 * get there, since a `javascript:` or `data:` link would run or show whatever the publisher
 * wrote to the reader who clicks it. Empty means no link.
 */
export const executionUrlSchema = z
  .string()
  .regex(/^(?:https?:\/\/\S+)?$/i, { message: 'expected an http:// or https:// URL' });

/**
 * ExecutionEvent v1: one phase change of one workflow execution. Unknown fields are kept, so
 * newer publishers can add fields without breaking this processor.
 */
export const executionEventSchema = z
  .object({
    version: z.literal(EVENT_VERSION),
    id: nonEmpty,
    time: isoDateTime,
    source: nonEmpty,
    execution: z.object({ project: nonEmpty, domain: nonEmpty, name: nonEmpty }).loose(),
    phase: z.enum(PHASES),
    previousPhase: z.enum(PHASES).optional(),
    error: z.object({ code: z.string().optional(), message: z.string() }).loose().optional(),
    workflow: identifierSchema.optional(),
    launchPlan: identifierSchema.optional(),
    url: executionUrlSchema.optional(),
    startedAt: isoDateTime.optional(),
    endedAt: isoDateTime.optional(),
    labels: z.record(z.string(), z.string()).optional(),
    notifications: z.array(notificationSchema).optional(),
  })
  .loose();

/** A validated execution event. */
export type ExecutionEvent = z.infer<typeof executionEventSchema>;
/** One entry of {@link ExecutionEvent.notifications}. */
export type EventNotification = z.infer<typeof notificationSchema>;
/** An event's email destination. */
export type EmailNotification = z.infer<typeof emailNotificationSchema>;

/**
 * What a caller may hand to a publisher: an event where `version`, `id`, `time` and `source`
 * may be left out and are filled in by {@link completeEvent}.
 */
export type ExecutionEventInput = Omit<ExecutionEvent, 'version' | 'id' | 'time' | 'source'> & {
  version?: number;
  id?: string;
  time?: string;
  source?: string;
};
