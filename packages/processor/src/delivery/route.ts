import { createHash } from 'node:crypto';
import type { Channel } from '@herald/channels';
import type { ExecutionEvent } from '@herald/core';
import type { ChannelType, ResolvedConfig, ResolvedDigest, ResolvedRule } from '@herald/core/config';

/**
 * Storm control for one destination: its notifications are folded into digests. The rule it
 * came from names the digest (`herald.eventNotifications` for the event's own notifications).
 */
export interface FoldPolicy {
  rule: string;
  digest: ResolvedDigest;
}

/** A rule's `oncePer`: the template whose value a destination hears about once. */
export interface OncePolicy {
  rule: string;
  template: string;
}

/** A rule's `rateLimit` on a destination. */
export interface RateLimitPolicy {
  rule: string;
  max: number;
  perMs: number;
}

/** What one origin of a destination asks of it: storm control, rule by rule. */
interface OriginPolicy {
  fold?: FoldPolicy | undefined;
  once?: OncePolicy | undefined;
  rateLimit?: RateLimitPolicy | undefined;
}

/** Storm control a destination is under: each only when every origin that reached it asks. */
interface StormControl {
  fold?: FoldPolicy;
  once?: OncePolicy;
  rateLimit?: RateLimitPolicy;
}

/** One email to send for an event. */
export interface EmailDestination {
  channel: 'email';
  /**
   * Identifies this destination within the event: with the event id it forms the
   * idempotency key. Equal for equal recipients and templates, whatever the order they came in.
   */
  key: string;
  to: string[];
  /** Subject/body templates overriding the configured ones (from the event or from a rule). */
  subject?: string | undefined;
  body?: string | undefined;
  /**
   * Who wrote `subject` and `body`: `config` (a rule, or none: the configured templates) is
   * trusted; `event` (only the event's publisher) is rendered in a worker under a time budget.
   */
  templatesFrom: 'config' | 'event';
  /** Where the destination came from, for `herald render` and logs. */
  origins: string[];
  fold?: FoldPolicy | undefined;
  once?: OncePolicy | undefined;
  rateLimit?: RateLimitPolicy | undefined;
}

/** A named channel from `herald.channels` (Slack, PagerDuty, webhook, Jira). */
export interface ChannelDestination {
  /** `unknown`: named by a rule or event but not in `herald.channels` (dead-lettered when sent). */
  channel: ChannelType | 'unknown';
  name: string;
  key: string;
  origins: string[];
  fold?: FoldPolicy | undefined;
  once?: OncePolicy | undefined;
  rateLimit?: RateLimitPolicy | undefined;
}

/** A rule registered in code with {@link when}. */
export interface CodeDestination {
  channel: 'code';
  name: string;
  key: string;
  origins: string[];
}

/** Where one event goes. */
export type Destination = EmailDestination | ChannelDestination | CodeDestination;

type RouteConfig = Pick<ResolvedConfig, 'emailer' | 'rules'> & Partial<Pick<ResolvedConfig, 'eventNotifications'>>;

/** What routing needs to know of a channel: its type, and phases it hears beyond its rules'. */
export type RoutableChannel = Pick<Channel, 'type' | 'alsoHears'>;

/**
 * Decides who must hear about an event:
 * - each of the event's own email notifications whose `phases` include the event's phase;
 * - the configured default recipients, when the phase is one of the default phases;
 * - the channels and addresses of every `herald.rules` entry the event matches;
 * - every code rule (its `check` runs when it is delivered).
 *
 * Emails that use the same templates are merged into one, each address once, so nobody
 * reached twice for one event gets two emails.
 *
 * A destination is folded into digests only when everything that reached it asks for a
 * digest (the first one's settings apply): a rule that wants it sent now is never delayed
 * by another rule's digest. Send-once keys and rate limits likewise.
 */
export function routeEvent(
  event: ExecutionEvent,
  config: RouteConfig,
  channels: ReadonlyMap<string, RoutableChannel> = new Map(),
  codeRules: readonly { name: string }[] = [],
): Destination[] {
  const groups = new Map<
    string,
    {
      subject?: string | undefined;
      body?: string | undefined;
      templatesFrom: EmailDestination['templatesFrom'];
      to: Set<string>;
      origins: string[];
      policies: OriginPolicy[];
    }
  >();
  const add = (
    to: readonly string[],
    origin: string,
    policy: OriginPolicy,
    from: EmailDestination['templatesFrom'],
    subject?: string,
    body?: string,
  ) => {
    const variant = templateVariant(subject, body);
    let group = groups.get(variant);
    if (!group) {
      group = {
        subject,
        body,
        templatesFrom: variant === 'default' ? 'config' : from,
        to: new Set(),
        origins: [],
        policies: [],
      };
      groups.set(variant, group);
    }
    // The same text in the config is the operator's own template: it needs no sandbox.
    if (from === 'config') group.templatesFrom = 'config';
    for (const address of to) group.to.add(address.toLowerCase());
    group.origins.push(origin);
    group.policies.push(policy);
  };

  const named = new Map<string, ChannelDestination & { policies: OriginPolicy[] }>();
  const addChannel = (name: string, origin: string, policy: OriginPolicy, phaseMatches: boolean) => {
    const channel = channels.get(name);
    if (!phaseMatches && !channel?.alsoHears?.(event.phase)) return;
    const existing = named.get(name);
    if (existing) {
      existing.origins.push(origin);
      existing.policies.push(policy);
    } else {
      named.set(name, {
        channel: channel?.type ?? 'unknown',
        name,
        key: `channel:${name}`,
        origins: [origin],
        policies: [policy],
      });
    }
  };
  const eventDigest = config.eventNotifications?.digest;
  const eventFold: OriginPolicy = {
    fold: eventDigest && { rule: 'herald.eventNotifications', digest: eventDigest },
  };

  event.notifications?.forEach((notification, index) => {
    const origin = `event notifications[${index}]`;
    const phaseMatches = notification.phases.includes(event.phase);
    if (notification.email && phaseMatches) {
      add(
        notification.email.recipients,
        origin,
        eventFold,
        'event',
        notification.email.subject,
        notification.email.body,
      );
    }
    for (const kind of ['slack', 'pagerDuty', 'webhook'] as const) {
      const target = notification[kind];
      if (!target) continue;
      // Flyte's form: a list of addresses (Slack and PagerDuty email bridges) is emailed. The
      // event schema refuses a target with neither addresses nor a channel.
      if (target.recipients && phaseMatches) add(target.recipients, `${origin}.${kind}`, eventFold, 'config');
      if (target.channel !== undefined) addChannel(target.channel, `${origin}.${kind}`, eventFold, phaseMatches);
    }
  });
  if (config.emailer.defaultRecipients.length > 0 && config.emailer.defaultPhases.includes(event.phase)) {
    add(config.emailer.defaultRecipients, 'herald.emailer.defaultRecipients', eventFold, 'config');
  }
  for (const rule of config.rules) {
    if (!matchesScope(event, rule)) continue;
    const phaseMatches =
      (!rule.onlyPhases || rule.onlyPhases.includes(event.phase)) && !rule.ignorePhases.includes(event.phase);
    const origin = `rule ${rule.name}`;
    const fold: OriginPolicy = {
      fold: rule.digest && { rule: rule.name, digest: rule.digest },
      once: rule.oncePer === undefined ? undefined : { rule: rule.name, template: rule.oncePer },
      rateLimit: rule.rateLimit && { rule: rule.name, ...rule.rateLimit },
    };
    if (phaseMatches && rule.email.length > 0) add(rule.email, origin, fold, 'config', rule.subject, rule.body);
    for (const name of rule.notify) addChannel(name, origin, fold, phaseMatches);
  }

  const emails = [...groups.entries()].map(([variant, group]): EmailDestination => {
    const to = [...group.to].sort();
    return {
      channel: 'email',
      key: emailKey(variant, to),
      to,
      subject: group.subject,
      body: group.body,
      templatesFrom: group.templatesFrom,
      origins: group.origins,
      ...stormControlOf(group.policies),
    };
  });
  const code: Destination[] = codeRules.map((rule) => ({
    channel: 'code',
    name: rule.name,
    key: `code:${rule.name}`,
    origins: ['code rule'],
  }));
  const namedChannels = [...named.values()].map(
    ({ policies, ...destination }): ChannelDestination => ({
      ...destination,
      ...stormControlOf(policies),
    }),
  );
  return [...emails, ...namedChannels, ...code];
}

/** The storm control of a destination reached from several places: each where every one asks for it. */
function stormControlOf(policies: OriginPolicy[]): StormControl {
  const control: StormControl = {};
  const everyone = <K extends keyof OriginPolicy>(key: K): NonNullable<OriginPolicy[K]> | undefined => {
    const first = policies[0]?.[key];
    return first && policies.every((policy) => policy[key] !== undefined) ? first : undefined;
  };
  const fold = everyone('fold');
  const once = everyone('once');
  const rateLimit = everyone('rateLimit');
  if (fold) control.fold = fold;
  if (once) control.once = once;
  if (rateLimit) control.rateLimit = rateLimit;
  return control;
}

/**
 * The destinations of one rule on its own, whatever the event's phase: where a rule's `expect`
 * alert goes. Keys are those routing gives the same destinations.
 */
export function ruleDestinations(
  rule: ResolvedRule,
  channels: ReadonlyMap<string, RoutableChannel> = new Map(),
): Destination[] {
  const origins = [`rule ${rule.name}`];
  const destinations: Destination[] = [];
  if (rule.email.length > 0) {
    const to = [...new Set(rule.email.map((address) => address.toLowerCase()))].sort();
    const variant = templateVariant(rule.subject, rule.body);
    destinations.push({
      channel: 'email',
      key: emailKey(variant, to),
      to,
      subject: rule.subject,
      body: rule.body,
      templatesFrom: 'config',
      origins,
    });
  }
  for (const name of rule.notify) {
    destinations.push({ channel: channels.get(name)?.type ?? 'unknown', name, key: `channel:${name}`, origins });
  }
  return destinations;
}

/** Everything a rule matches on besides the phase. */
export function matchesScope(event: ExecutionEvent, rule: ResolvedRule): boolean {
  if (rule.project !== undefined && rule.project !== event.execution.project) return false;
  if (rule.domain !== undefined && rule.domain !== event.execution.domain) return false;
  if (rule.workflow && !rule.workflow.test(event.workflow?.name ?? '')) return false;
  for (const [key, value] of Object.entries(rule.labels)) {
    if (event.labels?.[key] !== value) return false;
  }
  return true;
}

/** `default` for the configured templates, else an id of the overriding subject and body. */
function templateVariant(subject: string | undefined, body: string | undefined): string {
  return subject === undefined && body === undefined ? 'default' : templateId(subject, body);
}

/** An email destination's key: its templates and its sorted recipients, the same from every route. */
function emailKey(variant: string, sortedTo: readonly string[]): string {
  return `email:${variant}:${digest(sortedTo.join(','))}`;
}

function templateId(subject: string | undefined, body: string | undefined): string {
  return digest(`${subject ?? '\u0000'}\u0001${body ?? '\u0000'}`);
}

/** Digests already taken: most events go to the same few recipient lists and templates. */
const digests = new Map<string, string>();
const MAX_DIGESTS_KEPT = 4096;

/** A short, stable hash of `text`: the same for the same text in every replica. */
function digest(text: string): string {
  let hashed = digests.get(text);
  if (hashed === undefined) {
    hashed = createHash('sha256').update(text).digest('hex').slice(0, 16);
    // A storm of distinct lists must not grow it without bound: start over when full.
    if (digests.size >= MAX_DIGESTS_KEPT) digests.clear();
    digests.set(text, hashed);
  }
  return hashed;
}
