import { createChannels } from '@herald/channels';
import { DeliveryError, type ExecutionEvent, TemplateError } from '@herald/core';
import { type ConfigTemplates, compileConfigTemplates, type ResolvedConfig } from '@herald/core/config';
import { secretStandIns } from '@herald/core/runtime';
import { type DeliveryPreview, type DeliveryTarget, deliveryFor, routeEvent } from '@herald/processor';

interface RenderedBase {
  eventId: string;
  /** The destination key (part of the idempotency key). */
  destination: string;
  origins: string[];
}

/** A delivery that could not be rendered: where it would go, and why not. */
type RenderError = Omit<DeliveryTarget, 'headline'> & { error: string };

/** One delivery as `herald render --json` prints it, secrets replaced by `***`. */
export type RenderedDelivery = RenderedBase & (DeliveryPreview | RenderError);
/** An email as `herald render --json` prints it. */
export type RenderedEmail = RenderedBase & Extract<DeliveryPreview, { channel: 'email' }>;
/** A channel's request as `herald render --json` prints it. */
export type RenderedRequest = RenderedBase & Extract<DeliveryPreview, { method: string }>;

/** One rendered delivery, as data (`--json`) and as the lines a person reads. */
export interface Rendered {
  delivery: RenderedDelivery;
  lines: string[];
}

/**
 * Everything the processor would send for these events, rendered, without sending. Templates
 * carried on events are held to the same limits and time budget as in `herald run`. No secret
 * is read: each is shown as `***`, so this works where none is mounted and never prints one;
 * a URL written in the file is shown as written.
 */
export async function renderDeliveries(config: ResolvedConfig, events: ExecutionEvent[]): Promise<Rendered[]> {
  const templates = compileConfigTemplates(config);
  const hold = templates.renderer.hold();
  try {
    return await renderWith(templates, config, events);
  } finally {
    await hold.close();
  }
}

async function renderWith(
  templates: ConfigTemplates,
  config: ResolvedConfig,
  events: ExecutionEvent[],
): Promise<Rendered[]> {
  const channels = createChannels(config, templates.renderer, secretStandIns(config.fromEnvironment));
  // No emailer is built (it would need its secrets): emails are rendered, never sent.
  const parts = { config, templates, emailer: undefined, channels, codeRules: [] };
  const out: Rendered[] = [];
  for (const event of events) {
    for (const destination of routeEvent(event, config, channels)) {
      const base = { eventId: event.id, destination: destination.key, origins: destination.origins };
      const delivery = deliveryFor(destination, parts);
      const { headline, ...target } = delivery.target;
      const title = `${headline} (${destination.origins.join(', ')})`;
      try {
        const prepared = await delivery.prepare(event);
        if (!prepared) continue;
        out.push({ delivery: { ...base, ...prepared.describe() }, lines: [title, ...prepared.describeLines()] });
      } catch (err) {
        // What `herald run` would dead-letter is shown, with its reason; anything else is a bug.
        if (!(err instanceof TemplateError || (err instanceof DeliveryError && !err.retryable))) throw err;
        out.push({ delivery: { ...base, ...target, error: err.message }, lines: [title, `ERROR:   ${err.message}`] });
      }
    }
  }
  return out;
}

/** The human-readable form of {@link renderDeliveries}. */
export function formatDeliveries(rendered: Rendered[], events: ExecutionEvent[]): string {
  const lines: string[] = [];
  for (const event of events) {
    const mine = rendered.filter((r) => r.delivery.eventId === event.id);
    const { project, domain, name } = event.execution;
    lines.push(
      `Event ${event.id}: ${project}/${domain}/${name} ${event.phase} -> ${mine.length} deliver${mine.length === 1 ? 'y' : 'ies'}`,
    );
    for (const r of mine) lines.push('', ...r.lines.map((line) => `  ${line}`));
    lines.push('');
  }
  return lines.join('\n');
}
