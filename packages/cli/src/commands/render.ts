import { compileConfigTemplates, type ExecutionEvent, type ResolvedConfig, TemplateError } from '@herald/core';
import { composeEmail, routeEvent } from '@herald/processor';

/** One delivery as `herald render --json` prints it. */
export interface RenderedDelivery {
  channel: 'email';
  eventId: string;
  destination: string;
  origins: string[];
  provider: string;
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  /** Set instead of the content when an event-supplied template fails. */
  error?: string;
}

/** Everything the processor would send for these events, rendered, without sending. */
export function renderDeliveries(config: ResolvedConfig, events: ExecutionEvent[]): RenderedDelivery[] {
  const templates = compileConfigTemplates(config);
  const out: RenderedDelivery[] = [];
  for (const event of events) {
    for (const destination of routeEvent(event, config)) {
      const base = {
        channel: destination.channel,
        eventId: event.id,
        destination: destination.key,
        origins: destination.origins,
        provider: config.emailer.provider,
        from: config.emailer.sender,
        to: destination.to,
      };
      try {
        const email = composeEmail(event, destination, templates, config);
        out.push({ ...base, subject: email.subject, html: email.html, text: email.text });
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        out.push({ ...base, subject: '', html: '', text: '', error: err.message });
      }
    }
  }
  return out;
}

/** The human-readable form of {@link renderDeliveries}. */
export function formatDeliveries(deliveries: RenderedDelivery[], events: ExecutionEvent[]): string {
  const lines: string[] = [];
  for (const event of events) {
    const mine = deliveries.filter((d) => d.eventId === event.id);
    const { project, domain, name } = event.execution;
    lines.push(
      `Event ${event.id}: ${project}/${domain}/${name} ${event.phase} -> ${mine.length} deliver${mine.length === 1 ? 'y' : 'ies'}`,
    );
    for (const d of mine) {
      lines.push('');
      lines.push(`  ${d.channel} via ${d.provider} (${d.origins.join(', ')})`);
      lines.push(`  From:    ${d.from}`);
      lines.push(`  To:      ${d.to.join(', ')}`);
      if (d.error) {
        lines.push(`  ERROR:   ${d.error}`);
        continue;
      }
      lines.push(`  Subject: ${d.subject}`);
      lines.push('  --- text ---');
      lines.push(...d.text.split('\n').map((l) => `  ${l}`));
      lines.push('  --- html ---');
      lines.push(
        ...d.html
          .trimEnd()
          .split('\n')
          .map((l) => `  ${l}`),
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}
