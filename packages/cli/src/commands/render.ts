import { createChannels } from '@herald/channels';
import { DeliveryError, type ExecutionEvent, TemplateError } from '@herald/core';
import {
  type ConfigTemplates,
  compileConfigTemplates,
  formatDurationText,
  type ResolvedConfig,
} from '@herald/core/config';
import { secretStandIns } from '@herald/core/runtime';
import {
  type Delivery,
  type DeliveryPreview,
  type DeliveryTarget,
  type Destination,
  deliveryFor,
  digestTemplateSources,
  eventDeliveries,
  executionWatches,
  routeEvent,
} from '@herald/processor';
import { describeDigest } from './validate.js';

interface RenderedBase {
  /** The event's id; for a digest, `digest` followed by the rule's name. */
  eventId: string;
  /** The destination key (part of the idempotency key). */
  destination: string;
  origins: string[];
  /**
   * The destination folds its notifications into digests: the rule's, the group's values, and
   * what this one is. `held`: it waits for the digest; `first`: it opens the digest and goes
   * out at once (immediateFirst); `digest`: the digest itself, of the events rendered together.
   */
  digest?: {
    rule: string;
    group: Record<string, string>;
    role: 'held' | 'first' | 'digest' | 'watch' | 'watch-ended';
    count?: number;
  };
  /** Not sent: its `oncePer` value was sent for an event rendered before it. */
  suppressed?: { rule: string; value: string; sentFor: string };
}

/** A delivery that could not be rendered: where it would go, and why not. */
type RenderError = Omit<DeliveryTarget, 'headline'> & { error: string };

/** A delivery held for a digest: where it would go, and which digest it waits for. */
type RenderHeld = Omit<DeliveryTarget, 'headline'> & { held: string };

/** One delivery as `herald render --json` prints it, secrets replaced by `***`. */
export type RenderedDelivery = RenderedBase & (DeliveryPreview | RenderError | RenderHeld);
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
  // The digests the events fold into, as if they all arrived within one window; the send-once
  // keys they take, as if the log held none before.
  const digests = new Map<string, PendingDigest>();
  const sentOnce = new Map<string, string>();
  for (const event of events) {
    out.push(...(await renderWatches(event, config, parts)));
    const destinations = routeEvent(event, config, channels);
    const bound = eventDeliveries(event, destinations, parts);
    for (const [index, destination] of destinations.entries()) {
      const fold = bound[index]?.fold;
      const base: RenderedBase = { eventId: event.id, destination: destination.key, origins: destination.origins };
      const delivery = deliveryFor(destination, parts);
      const { headline, ...target } = delivery.target;
      let title = `${headline} (${destination.origins.join(', ')})`;
      const { once, rateLimit } = bound[index] ?? {};
      if (once) {
        title += `; once per '${once.key.value}' (rule ${once.rule})`;
        const sentFor = sentOnce.get(once.key.key);
        if (sentFor !== undefined) {
          const note = `suppressed: sent once per '${once.key.value}', for event ${sentFor}`;
          out.push({
            delivery: {
              ...base,
              ...target,
              held: note,
              suppressed: { rule: once.rule, value: once.key.value, sentFor },
            },
            lines: [title, note],
          });
          continue;
        }
        sentOnce.set(once.key.key, event.id);
      }
      if (rateLimit) {
        title += `; at most ${rateLimit.max} per ${formatDurationText(rateLimit.perMs)}, the rest in a digest (rule ${rateLimit.rule})`;
      }
      if (fold) {
        const policy = 'fold' in destination ? destination.fold : undefined;
        let pending = digests.get(fold.join.groupKey);
        const opens = pending === undefined;
        pending ??= {
          delivery,
          base: { ...base, eventId: `digest ${fold.rule}` },
          headline,
          rule: fold.rule,
          group: fold.join.group,
          windowMs: fold.join.windowMs,
          events: [],
          incidentKey: fold.join.groupKey,
        };
        digests.set(fold.join.groupKey, pending);
        const where = `${fold.rule}'s digest${describeGroup(fold.join.group)}`;
        if (!(opens && fold.join.immediateFirst)) {
          pending.events.push(event);
          const note = `folded into ${where}, sent when its window ends (${policy ? describeDigest(policy.digest) : ''})`;
          out.push({
            delivery: {
              ...base,
              ...target,
              held: note,
              digest: { rule: fold.rule, group: fold.join.group, role: 'held' },
            },
            lines: [title, note],
          });
          continue;
        }
        base.digest = { rule: fold.rule, group: fold.join.group, role: 'first' };
        title = `${title}, sent at once; it opens ${where}`;
      }
      out.push(
        await rendered(() => delivery.prepare(event, { incidentKey: fold?.join.groupKey }), base, target, title),
      );
    }
  }
  for (const pending of digests.values()) {
    if (pending.events.length === 0) continue;
    const now = new Date();
    const { base, delivery, rule, group, events: held } = pending;
    const count = held.length;
    const title = `${pending.headline}: ${rule}'s digest${describeGroup(group)} of ${count} event${count === 1 ? '' : 's'}`;
    const prepare = () =>
      delivery.prepareDigest({
        id: 'render',
        incidentKey: pending.incidentKey,
        rule,
        group,
        windowMs: pending.windowMs,
        events: held,
        openedAt: now,
        closedAt: new Date(now.getTime() + pending.windowMs),
        sentFirst: undefined,
        templates: digestTemplateSources(config, rule),
      });
    const { headline: _headline, ...target } = delivery.target;
    out.push(await rendered(prepare, { ...base, digest: { rule, group, role: 'digest', count } }, target, title));
  }
  return out;
}

/**
 * The rules' `expect` watches the event starts (with the alert they send if it does not end in
 * time) or ends.
 */
async function renderWatches(
  event: ExecutionEvent,
  config: ResolvedConfig,
  parts: Parameters<typeof executionWatches>[1],
): Promise<Rendered[]> {
  const out: Rendered[] = [];
  for (const { watch, ended } of executionWatches(event, parts)) {
    const destination = JSON.parse(watch.target) as Destination;
    const delivery = deliveryFor(destination, parts);
    const { headline, ...target } = delivery.target;
    const base: RenderedBase = {
      eventId: event.id,
      destination: watch.destination,
      origins: destination.origins,
      digest: { rule: watch.rule, group: watch.group, role: ended ? 'watch-ended' : 'watch' },
    };
    const within = formatDurationText(watch.withinMs);
    if (ended) {
      const note = `ends rule ${watch.rule}'s watch: no still-running alert unless it was sent already`;
      out.push({ delivery: { ...base, ...target, held: note }, lines: [`${headline} (${watch.rule})`, note] });
      continue;
    }
    const title = `${headline} (${watch.rule}): if it has not ended ${within} from now, it gets`;
    const now = new Date();
    const prepare = () =>
      delivery.prepareDigest({
        id: 'render',
        kind: 'overdue',
        incidentKey: watch.groupKey,
        rule: watch.rule,
        group: watch.group,
        windowMs: watch.withinMs,
        events: [event],
        openedAt: now,
        closedAt: new Date(now.getTime() + watch.withinMs),
        sentFirst: undefined,
        templates: digestTemplateSources(config, watch.rule, 'overdue'),
      });
    out.push(await rendered(prepare, base, target, title));
  }
  return out;
}

/** A digest being gathered from the events rendered together. */
interface PendingDigest {
  delivery: Delivery;
  base: RenderedBase;
  headline: string;
  rule: string;
  group: Record<string, string>;
  windowMs: number;
  events: ExecutionEvent[];
  incidentKey: string;
}

/** One delivery rendered, or the reason `herald run` would dead-letter it. */
async function rendered(
  prepare: () => ReturnType<Delivery['prepare']>,
  base: RenderedBase,
  target: Omit<DeliveryTarget, 'headline'>,
  title: string,
): Promise<Rendered> {
  try {
    const prepared = await prepare();
    if (!prepared)
      return { delivery: { ...base, ...target, error: 'nothing to send' }, lines: [title, 'nothing to send'] };
    return { delivery: { ...base, ...prepared.describe() }, lines: [title, ...prepared.describeLines()] };
  } catch (err) {
    // What `herald run` would dead-letter is shown, with its reason; anything else is a bug.
    if (!(err instanceof TemplateError || (err instanceof DeliveryError && !err.retryable))) throw err;
    return { delivery: { ...base, ...target, error: err.message }, lines: [title, `ERROR:   ${err.message}`] };
  }
}

function describeGroup(group: Record<string, string>): string {
  const values = Object.entries(group).map(([field, value]) => `${field}=${value}`);
  return values.length > 0 ? ` (${values.join(' ')})` : '';
}

/** The human-readable form of {@link renderDeliveries}. */
export function formatDeliveries(rendered: Rendered[], events: ExecutionEvent[]): string {
  const lines: string[] = [];
  for (const event of events) {
    const mine = rendered.filter((r) => r.delivery.eventId === event.id);
    const deliveries = mine.filter((r) => !r.delivery.digest?.role.startsWith('watch')).length;
    const watches = mine.length - deliveries;
    const { project, domain, name } = event.execution;
    lines.push(
      `Event ${event.id}: ${project}/${domain}/${name} ${event.phase} -> ${deliveries} deliver${deliveries === 1 ? 'y' : 'ies'}` +
        (watches > 0 ? `, ${watches} watch${watches === 1 ? '' : 'es'} of expect` : ''),
    );
    for (const r of mine) lines.push('', ...r.lines.map((line) => `  ${line}`));
    lines.push('');
  }
  const digests = rendered.filter((r) => r.delivery.digest?.role === 'digest');
  if (digests.length > 0) {
    lines.push(`Digests, when their windows end -> ${digests.length}`);
    for (const r of digests) lines.push('', ...r.lines.map((line) => `  ${line}`));
    lines.push('');
  }
  return lines.join('\n');
}
