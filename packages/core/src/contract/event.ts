import { z } from 'zod';
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

/** Flyte's EmailNotification, plus optional subject/body overrides (FlyteAdmin drops these). */
export const emailNotificationSchema = z
  .object({
    recipients: z.array(emailAddressSchema).min(1),
    subject: z.string().optional(),
    body: z.string().optional(),
  })
  .loose();

/** A destination on a non-email channel; its fields are checked by the channel that owns it. */
const channelNotificationSchema = z.record(z.string(), z.unknown());

/** One entry of the event's own `notifications`: which phases, and one destination. */
export const notificationSchema = z
  .object({
    phases: z.array(z.enum(PHASES)).min(1),
    email: emailNotificationSchema.optional(),
    slack: channelNotificationSchema.optional(),
    pagerDuty: channelNotificationSchema.optional(),
    webhook: channelNotificationSchema.optional(),
  })
  .loose()
  .refine((n) => n.email || n.slack || n.pagerDuty || n.webhook, {
    message: 'expected one destination: email, slack, pagerDuty or webhook',
  });

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
