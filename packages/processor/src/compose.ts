import { buildTemplateContext, type ConfigTemplates, type ExecutionEvent, type ResolvedConfig } from '@herald/core';
import type { EmailMessage } from '@herald/emailer';
import type { EmailDestination } from './route.js';

/**
 * Renders the email for one destination. Templates carried on the event win over the
 * configured ones (FlyteAdmin reads the body override and drops the subject; Herald uses both).
 * @throws TemplateError when an event-supplied template does not parse or render.
 */
export function composeEmail(
  event: ExecutionEvent,
  destination: EmailDestination,
  templates: ConfigTemplates,
  config: Pick<ResolvedConfig, 'emailer'>,
): EmailMessage {
  const context = buildTemplateContext(event);
  const hasOverride = destination.subject !== undefined || destination.body !== undefined;
  const template = hasOverride
    ? templates.renderer.compileEventEmail(
        {
          subject: destination.subject ?? config.emailer.subject,
          html: destination.body ?? config.emailer.body,
          // A configured text body belongs to the configured HTML body; with an overridden
          // body the text is derived from the override instead.
          text: destination.body === undefined ? config.emailer.text : undefined,
        },
        `event notification (${destination.origins.join(', ')})`,
      )
    : templates.defaultEmail;
  const rendered = template.render(context);
  return {
    from: config.emailer.sender,
    to: destination.to,
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    idempotencyKey: `${event.id}/${destination.key}`,
  };
}
