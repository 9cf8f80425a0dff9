import type { ExecutionEvent } from '@herald/core';
import type { ConfigTemplates, ResolvedConfig } from '@herald/core/config';
import { buildTemplateContext, type EventTemplatePart, type RenderedEmail } from '@herald/core/templates';
import type { EmailMessage } from '@herald/emailer';
import type { EmailDestination } from './route.js';

/**
 * Renders the email for one destination. Templates carried on the event win over the
 * configured ones (FlyteAdmin reads the body override and drops the subject; Herald uses both).
 * Configured templates (and a rule's) render at once on this thread; templates written by the
 * event's publisher render in a worker under a time budget, so no event can block the caller.
 * @param options.signal withdraws a request still waiting for the event-template worker.
 * @throws TemplateError (rejects) when a template does not parse or render, or runs over the
 * limits of templates carried on events.
 */
export async function composeEmail(
  event: ExecutionEvent,
  destination: EmailDestination,
  templates: ConfigTemplates,
  config: Pick<ResolvedConfig, 'emailer'>,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<EmailMessage> {
  const rendered = await render(event, destination, templates, config, options.signal);
  return {
    from: config.emailer.sender,
    to: destination.to,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    idempotencyKey: `${event.id}/${destination.key}`,
  };
}

function render(
  event: ExecutionEvent,
  destination: EmailDestination,
  templates: ConfigTemplates,
  config: Pick<ResolvedConfig, 'emailer'>,
  signal: AbortSignal | undefined,
): RenderedEmail | Promise<RenderedEmail> {
  if (destination.subject === undefined && destination.body === undefined) {
    return templates.defaultEmail.render(buildTemplateContext(event));
  }
  const sources = {
    subject: destination.subject ?? config.emailer.subject,
    html: destination.body ?? config.emailer.body,
    // A configured text body belongs to the configured HTML body; with an overridden
    // body the text is derived from the override instead.
    text: destination.body === undefined ? config.emailer.text : undefined,
  };
  const name = `${destination.templatesFrom === 'event' ? 'event notification' : 'email'} (${destination.origins.join(', ')})`;
  if (destination.templatesFrom === 'config') {
    return templates.renderer.compileCachedEmail(sources, name).render(buildTemplateContext(event));
  }
  const fromEvent: EventTemplatePart[] = [];
  if (destination.subject !== undefined) fromEvent.push('subject');
  if (destination.body !== undefined) fromEvent.push('html');
  return templates.renderer.renderEventEmail({ ...sources, fromEvent }, name, event, { signal });
}
