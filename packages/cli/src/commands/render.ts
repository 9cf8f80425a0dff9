import { createChannels } from '@herald/channels';
import {
  type ConfigTemplates,
  compileConfigTemplates,
  type ExecutionEvent,
  type ResolvedConfig,
  secretStandIns,
  TemplateError,
} from '@herald/core';
import { composeEmail, routeEvent } from '@herald/processor';

interface RenderedBase {
  eventId: string;
  /** The destination key (part of the idempotency key). */
  destination: string;
  origins: string[];
  /** Set instead of the content when a template fails or the channel is unknown. */
  error?: string;
}

/** An email as `herald render --json` prints it. */
export interface RenderedEmail extends RenderedBase {
  channel: 'email';
  provider: string;
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
}

/** A channel request as `herald render --json` prints it, secrets replaced by `***`. */
export interface RenderedRequest extends RenderedBase {
  channel: 'slack' | 'pagerduty' | 'webhook' | 'jira' | 'unknown';
  name: string;
  to: string[];
  /** Empty when the channel has nothing to send for this phase. */
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  summary: string;
}

/** One delivery as `herald render --json` prints it. */
export type RenderedDelivery = RenderedEmail | RenderedRequest;

/**
 * Everything the processor would send for these events, rendered, without sending. Templates
 * carried on events are held to the same limits and time budget as in `herald run`. No secret
 * is read: each is shown as `***`, so this works where none is mounted and never prints one;
 * a URL written in the file is shown as written.
 */
export async function renderDeliveries(config: ResolvedConfig, events: ExecutionEvent[]): Promise<RenderedDelivery[]> {
  const templates = compileConfigTemplates(config);
  try {
    return await renderWith(templates, config, events);
  } finally {
    await templates.renderer.close();
  }
}

async function renderWith(
  templates: ConfigTemplates,
  config: ResolvedConfig,
  events: ExecutionEvent[],
): Promise<RenderedDelivery[]> {
  const channels = createChannels(config, templates.renderer, secretStandIns(config.fromEnvironment));
  const out: RenderedDelivery[] = [];
  for (const event of events) {
    for (const destination of routeEvent(event, config, channels)) {
      const base = { eventId: event.id, destination: destination.key, origins: destination.origins };
      if (destination.channel === 'code') continue;
      if (destination.channel === 'email') {
        const email = {
          ...base,
          channel: 'email' as const,
          provider: config.emailer.provider,
          from: config.emailer.sender,
          to: destination.to,
        };
        try {
          const rendered = await composeEmail(event, destination, templates, config);
          out.push({ ...email, subject: rendered.subject, html: rendered.html, text: rendered.text });
        } catch (err) {
          if (!(err instanceof TemplateError)) throw err;
          out.push({ ...email, subject: '', html: '', text: '', error: err.message });
        }
        continue;
      }
      const request = { ...base, channel: destination.channel, name: destination.name, to: [destination.name] };
      const empty = { method: '', url: '', headers: {}, body: null, summary: '' };
      const channel = channels.get(destination.name);
      if (!channel) {
        out.push({ ...request, ...empty, error: `no channel named '${destination.name}' in herald.channels` });
        continue;
      }
      try {
        const prepared = channel.prepare(event);
        if (!prepared) continue;
        out.push({ ...request, method: prepared.method, ...prepared.preview });
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        out.push({ ...request, ...empty, error: err.message });
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
      if (d.channel === 'email') {
        lines.push(
          `  email via ${d.provider} (${d.origins.join(', ')})`,
          `  From:    ${d.from}`,
          `  To:      ${d.to.join(', ')}`,
        );
        if (d.error) {
          lines.push(`  ERROR:   ${d.error}`);
          continue;
        }
        lines.push(
          `  Subject: ${d.subject}`,
          '  --- text ---',
          ...indent(d.text),
          '  --- html ---',
          ...indent(d.html.trimEnd()),
        );
        continue;
      }
      lines.push(`  ${d.channel} '${d.name}' (${d.origins.join(', ')})`);
      if (d.error) {
        lines.push(`  ERROR:   ${d.error}`);
        continue;
      }
      lines.push(`  ${d.method} ${d.url}`, ...Object.entries(d.headers).map(([k, v]) => `  ${k}: ${v}`));
      lines.push(...indent(JSON.stringify(d.body, null, 2)));
    }
    lines.push('');
  }
  return lines.join('\n');
}

function indent(text: string): string[] {
  return text.split('\n').map((line) => `  ${line}`);
}
