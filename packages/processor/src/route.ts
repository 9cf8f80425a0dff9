import { createHash } from 'node:crypto';
import type { ExecutionEvent, ResolvedConfig } from '@herald/core';

/** One email to send for an event. */
export interface EmailDestination {
  channel: 'email';
  /**
   * Identifies this destination within the event: with the event id it forms the
   * idempotency key. Equal for equal recipients and templates, whatever the order they came in.
   */
  key: string;
  to: string[];
  /** Subject/body templates carried on the event, overriding the configured ones. */
  subject?: string | undefined;
  body?: string | undefined;
  /** Where the destination came from, for `herald render` and logs. */
  origins: string[];
}

/** A destination of any channel (only email so far). */
export type Destination = EmailDestination;

type RouteConfig = Pick<ResolvedConfig, 'emailer'>;

/**
 * Decides who must hear about an event:
 * - each of the event's own email notifications whose `phases` include the event's phase;
 * - the configured default recipients, when the phase is one of the default phases.
 *
 * Emails that use the same templates are merged into one, each address once, so nobody
 * reached twice for one event gets two emails.
 */
export function routeEvent(event: ExecutionEvent, config: RouteConfig): Destination[] {
  const groups = new Map<
    string,
    { subject?: string | undefined; body?: string | undefined; to: Set<string>; origins: string[] }
  >();
  const add = (to: readonly string[], origin: string, subject?: string, body?: string) => {
    const variant = subject === undefined && body === undefined ? 'default' : templateId(subject, body);
    let group = groups.get(variant);
    if (!group) {
      group = { subject, body, to: new Set(), origins: [] };
      groups.set(variant, group);
    }
    for (const address of to) group.to.add(address.toLowerCase());
    group.origins.push(origin);
  };

  event.notifications?.forEach((notification, index) => {
    if (!notification.email || !notification.phases.includes(event.phase)) return;
    add(
      notification.email.recipients,
      `event notifications[${index}]`,
      notification.email.subject,
      notification.email.body,
    );
  });
  if (config.emailer.defaultRecipients.length > 0 && config.emailer.defaultPhases.includes(event.phase)) {
    add(config.emailer.defaultRecipients, 'herald.emailer.defaultRecipients');
  }

  return [...groups.entries()].map(([variant, group]) => {
    const to = [...group.to].sort();
    return {
      channel: 'email',
      key: `email:${variant}:${digest(to.join(','))}`,
      to,
      subject: group.subject,
      body: group.body,
      origins: group.origins,
    };
  });
}

function templateId(subject: string | undefined, body: string | undefined): string {
  return digest(`${subject ?? '\u0000'}\u0001${body ?? '\u0000'}`);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
