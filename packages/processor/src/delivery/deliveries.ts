import { createHash } from 'node:crypto';
import type { Channel, PreparedRequest } from '@herald/channels';
import { DeliveryError, type ExecutionEvent } from '@herald/core';
import { type ChannelType, type ConfigTemplates, formatDurationText, type ResolvedConfig } from '@herald/core/config';
import {
  buildDigestContext,
  buildTemplateContext,
  DEFAULT_DIGEST_HTML,
  DEFAULT_DIGEST_SUBJECT,
  DEFAULT_DIGEST_TEXT,
  DEFAULT_OVERDUE_HTML,
  DEFAULT_OVERDUE_SUBJECT,
  DEFAULT_OVERDUE_TEXT,
  DEFAULT_RATELIMIT_HTML,
  DEFAULT_RATELIMIT_SUBJECT,
  DEFAULT_RATELIMIT_TEXT,
  type DigestSummary,
  type TemplateContext,
} from '@herald/core/templates';
import type { Emailer, EmailMessage } from '@herald/emailer';
import type { DigestJoin, OnceKey } from '@herald/store';
import { attemptSignal } from './attempt-signals.js';
import type { CodeRule } from './code-rules.js';
import { composeEmail } from './compose.js';
import type { Destination } from './route.js';

/** What a send reports: for the `delivered` event, the logs and metrics. */
export interface DeliveryReceipt {
  /** What kind of destination it went to: `email`, a channel type, or `code`. */
  channel: Destination['channel'];
  /** Who took it: the emailer (`ses`, `smtp`, …), the channel type, or `code`. */
  provider: string;
  /** The provider's id for it (SES message id, PagerDuty dedup key, …). */
  providerMessageId: string;
  /** Where it was written, for the outbox emailer. */
  location?: string | undefined;
  to: string[];
  subject: string;
  /** The plain-text body that was sent, for previews and the sandbox summary. */
  text: string;
}

/** What `herald render` shows of one prepared delivery, secrets replaced by `***`. */
export type DeliveryPreview =
  | { channel: 'email'; provider: string; from: string; to: string[]; subject: string; html: string; text: string }
  | {
      channel: ChannelType;
      name: string;
      to: string[];
      method: string;
      url: string;
      headers: Record<string, string>;
      body: unknown;
      summary: string;
    }
  | { channel: 'code'; name: string; to: string[] };

/** Where a delivery goes, for `herald render` and logs. */
export interface DeliveryTarget {
  channel: Destination['channel'];
  /** The channel's or code rule's name; none for an email. */
  name?: string;
  to: string[];
  /** One line saying what it is: `email via ses`, `slack 'oncall'`. */
  headline: string;
}

/** What one destination would receive for one event, rendered and ready to send. */
export interface PreparedDelivery {
  /** What it is, for `herald render`: every field, secrets masked. */
  describe(): DeliveryPreview;
  /** The same as lines a person reads, below the target's headline (`herald render` without `--json`). */
  describeLines(): string[];
  /**
   * Sends it; undefined when nothing was sent because nothing can be (no emailer: `type: local`).
   * @throws DeliveryError with `retryable` set; any other error counts as transient.
   */
  send(options: { signal: AbortSignal }): Promise<DeliveryReceipt | undefined>;
}

/**
 * One shape for every kind of destination (an email, a channel, a code rule): `prepare`
 * renders what would be sent, or says nothing is needed for this event, and the prepared
 * delivery sends and describes itself. The pipeline, `herald render` and `herald send-test`
 * all go through it.
 */
export interface Delivery {
  /** Where it goes, known before anything is rendered (shown with an error instead of content). */
  readonly target: DeliveryTarget;
  /** Where it goes as the delivery log shows it: `email to a@example.com`, `slack 'oncall'`. */
  readonly label: string;
  /**
   * Who sends it, for metrics: the emailer, the channel type, `unknown` or `code`. Never a name
   * an event chose, so a metric's label takes few values.
   */
  readonly provider: string;
  /**
   * @returns undefined when this event needs nothing here (a PagerDuty phase that neither
   * triggers nor resolves, a code rule whose check says no).
   * @throws TemplateError (rejects) for a template that does not render; DeliveryError
   * (permanent) for a destination that cannot exist (a channel not in `herald.channels`).
   */
  prepare(event: ExecutionEvent, options?: PrepareOptions): Promise<PreparedDelivery | undefined>;
  /**
   * The message of one digest: the notifications of a window, folded. Undefined when this
   * destination has nothing to say for it (a code rule; PagerDuty for phases it does not hear).
   */
  prepareDigest(digest: DigestToSend): Promise<PreparedDelivery | undefined>;
}

/** Options of {@link Delivery.prepare}. */
export interface PrepareOptions {
  signal?: AbortSignal | undefined;
  /** The destination folds into digests: the group's key (PagerDuty's alert for the whole storm). */
  incidentKey?: string | undefined;
}

/** A digest ready to render: what it folds, its group's key, and the templates its rule gives. */
export interface DigestToSend extends DigestSummary {
  id: string;
  incidentKey: string;
  templates: DigestTemplateSources;
}

/**
 * A digest's templates, as written (or Herald's), and the config key they are under: the
 * subject, the body as text (chat, tickets) and as HTML (email). A body the rule writes is both.
 */
export interface DigestTemplateSources {
  subject: string;
  text: string;
  html: string;
  name: string;
}

/** What the deliveries are made of: built once per processor (or per `herald render`). */
export interface DeliveryParts {
  config: Pick<ResolvedConfig, 'emailer'>;
  templates: ConfigTemplates;
  /** Undefined: no email is sent (`type: local`), or none can be (`herald render` builds none). */
  emailer: Emailer | undefined;
  channels: ReadonlyMap<string, Channel>;
  codeRules: readonly CodeRule[];
}

/** The delivery of one destination: the one place where the kinds of destination are told apart. */
export function deliveryFor(destination: Destination, parts: DeliveryParts): Delivery {
  switch (destination.channel) {
    case 'email': {
      const provider = parts.emailer?.name ?? parts.config.emailer.provider;
      return {
        target: { channel: 'email', to: destination.to, headline: `email via ${provider}` },
        label: `email to ${destination.to.join(', ')}`,
        provider,
        prepare: async (event, options = {}) =>
          preparedEmail(await composeEmail(event, destination, parts.templates, parts.config, options), parts),
        prepareDigest: async (digest) => {
          const { templates } = digest;
          const rendered = parts.templates.renderer
            .compileCachedEmail({ subject: templates.subject, html: templates.html }, templates.name)
            // A digest's context is not an event's: its templates are written for it.
            .render(buildDigestContext(digest) as unknown as TemplateContext);
          const email: EmailMessage = {
            from: parts.config.emailer.sender,
            to: destination.to,
            ...rendered,
            idempotencyKey: `digest:${digest.id}/${destination.key}`,
          };
          return preparedEmail(email, parts);
        },
      };
    }
    case 'code': {
      const rule = parts.codeRules.find((r) => r.name === destination.name);
      const { name } = destination;
      return {
        target: { channel: 'code', name, to: [name], headline: `code rule '${name}'` },
        label: `code rule '${name}'`,
        provider: 'code',
        prepare: async (event) => {
          if (!rule || !(await rule.check(event))) return undefined;
          return {
            describe: () => ({ channel: 'code', name: rule.name, to: [rule.name] }),
            describeLines: () => [],
            send: async ({ signal }) => {
              await attemptSignal(signal, (own) => rule.deliver(event, { signal: own }));
              return {
                channel: 'code',
                provider: 'code',
                providerMessageId: '',
                to: [rule.name],
                subject: rule.name,
                text: '',
              };
            },
          };
        },
        // A code rule decides on one event; it is never folded.
        prepareDigest: async () => undefined,
      };
    }
    default: {
      const channel = parts.channels.get(destination.name);
      const { name } = destination;
      return {
        target: { channel: destination.channel, name, to: [name], headline: `${destination.channel} '${name}'` },
        label: `${destination.channel} '${name}'`,
        provider: destination.channel,
        prepare: async (event, options = {}) => {
          const request = known().prepare(event, { incidentKey: options.incidentKey });
          return request && preparedRequest(known(), request);
        },
        prepareDigest: async (digest) => {
          const { renderer } = parts.templates;
          const { templates } = digest;
          const request = known().prepareDigest({
            incidentKey: digest.incidentKey,
            context: buildDigestContext(digest),
            subject: renderer.compilePlain(templates.subject, `${templates.name}.subject`),
            text: renderer.compilePlain(templates.text, `${templates.name}.body`),
            events: digest.events,
            kind: digest.kind ?? 'digest',
          });
          return request && preparedRequest(known(), request);
        },
      };
      function known(): Channel {
        if (channel) return channel;
        throw new DeliveryError(name, `no channel named '${name}' in herald.channels`, { retryable: false });
      }
    }
  }
}

/** A channel's request, ready to send and to show. */
function preparedRequest(channel: Channel, request: PreparedRequest): PreparedDelivery {
  const { preview } = request;
  return {
    describe: () => ({
      channel: channel.type,
      name: channel.name,
      to: [channel.name],
      method: request.method,
      ...preview,
    }),
    describeLines: () => [
      `${request.method} ${preview.url}`,
      ...Object.entries(preview.headers).map(([k, v]) => `${k}: ${v}`),
      ...JSON.stringify(preview.body, null, 2).split('\n'),
    ],
    send: async ({ signal }) => {
      const result = await channel.send(request, { signal });
      const { summary } = preview;
      return {
        channel: channel.type,
        provider: channel.type,
        providerMessageId: result.id,
        to: [channel.name],
        subject: summary,
        text: summary,
      };
    },
  };
}

/** The templates a digest of `rule` (or its overdue alert, for `expect`) renders with: the rule's, else Herald's. */
export function digestTemplateSources(
  config: Pick<ResolvedConfig, 'rules' | 'eventNotifications'>,
  rule: string,
  kind: 'digest' | 'overdue' | 'ratelimit' = 'digest',
): DigestTemplateSources {
  if (kind === 'ratelimit') {
    const index = config.rules.findIndex((r) => r.name === rule);
    return {
      subject: DEFAULT_RATELIMIT_SUBJECT,
      text: DEFAULT_RATELIMIT_TEXT,
      html: DEFAULT_RATELIMIT_HTML,
      name: `herald.rules[${index}].rateLimit`,
    };
  }
  if (kind === 'overdue') {
    const index = config.rules.findIndex((r) => r.name === rule && r.expect);
    const expect = config.rules[index]?.expect;
    return {
      subject: expect?.subject ?? DEFAULT_OVERDUE_SUBJECT,
      text: expect?.body ?? DEFAULT_OVERDUE_TEXT,
      html: expect?.body ?? DEFAULT_OVERDUE_HTML,
      name: `herald.rules[${index}].expect`,
    };
  }
  const index = config.rules.findIndex((r) => r.name === rule && r.digest);
  const digest = index >= 0 ? config.rules[index]?.digest : config.eventNotifications.digest;
  return {
    subject: digest?.subject ?? DEFAULT_DIGEST_SUBJECT,
    text: digest?.body ?? DEFAULT_DIGEST_TEXT,
    html: digest?.body ?? DEFAULT_DIGEST_HTML,
    name: index >= 0 ? `herald.rules[${index}].digest` : 'herald.eventNotifications.digest',
  };
}

/**
 * A delivery whose content is already made, bound to what it needs: what the pipeline
 * delivers, whether it came from routing an event or arrived rendered.
 */
export interface BoundDelivery extends Pick<Delivery, 'target' | 'label' | 'provider'> {
  /** Identifies it within its message: with the message's id, the ledger key. */
  readonly key: string;
  /** Set when its notifications fold into digests: the digest it joins. */
  readonly fold?: BoundFold | undefined;
  /** Set under a rule's `oncePer`: its key for this event. */
  readonly once?: { rule: string; key: OnceKey } | undefined;
  /**
   * Set under a rule's `rateLimit`: the limit, and the digest it folds into beyond it, made only
   * then (most notifications are within the limit), with the window that is left.
   */
  readonly rateLimit?: { rule: string; max: number; perMs: number; join(windowMs: number): DigestJoin } | undefined;
  prepare(options: { signal?: AbortSignal | undefined }): Promise<PreparedDelivery | undefined>;
}

/** Which digest an event's delivery joins, as the store takes it. */
export interface BoundFold {
  join: DigestJoin;
  /** The digest's group, for the rule's name in logs. */
  rule: string;
}

/** The deliveries an event was routed to, each bound to the event. */
export function eventDeliveries(
  event: ExecutionEvent,
  destinations: Destination[],
  parts: DeliveryParts,
): BoundDelivery[] {
  return destinations.map((destination): BoundDelivery => {
    const delivery = deliveryFor(destination, parts);
    const { target, label, provider } = delivery;
    const controlled = destination.channel === 'code' ? undefined : destination;
    const fold = controlled && foldOf(event, controlled);
    const incidentKey = fold?.join.groupKey;
    return {
      key: destination.key,
      target,
      label,
      provider,
      fold,
      once: controlled && onceOf(event, controlled, parts),
      rateLimit: controlled && rateLimitOf(event, controlled),
      prepare: (options) => delivery.prepare(event, { ...options, incidentKey }),
    };
  });
}

/** A short, fixed-length key for state kept per rule and destination (and value, or execution). */
export function stateKey(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** The send-once key of an event at a destination under `oncePer`; none when its value renders empty. */
function onceOf(
  event: ExecutionEvent,
  destination: Exclude<Destination, { channel: 'code' }>,
  parts: DeliveryParts,
): BoundDelivery['once'] {
  const policy = destination.once;
  if (!policy) return undefined;
  const render = parts.templates.renderer.compilePlain(policy.template, `rule ${policy.rule}: oncePer`);
  const value = render(buildTemplateContext(event)).trim();
  if (value === '') return undefined;
  return { rule: policy.rule, key: { key: stateKey(['once', policy.rule, destination.key, value]), value } };
}

/** The rate limit of a destination, and the digest of what it holds back (one per rule and destination). */
function rateLimitOf(
  event: ExecutionEvent,
  destination: Exclude<Destination, { channel: 'code' }>,
): BoundDelivery['rateLimit'] {
  const policy = destination.rateLimit;
  if (!policy) return undefined;
  const limit = `${policy.max} per ${formatDurationText(policy.perMs)}`;
  return {
    rule: policy.rule,
    max: policy.max,
    perMs: policy.perMs,
    join: (windowMs) => ({
      groupKey: stateKey(['ratelimit', policy.rule, destination.key]),
      kind: 'ratelimit',
      rule: policy.rule,
      target: JSON.stringify(destination),
      group: { rateLimit: limit },
      windowMs,
      max: 100_000,
      immediateFirst: false,
      event: JSON.stringify(event),
    }),
  };
}

/**
 * The digest an event joins at a destination that folds: one group per rule, destination and
 * groupBy values, named by a hash of them (any text can be a value; the key stays short).
 */
function foldOf(event: ExecutionEvent, destination: Exclude<Destination, { channel: 'code' }>): BoundFold | undefined {
  const policy = destination.fold;
  if (!policy) return undefined;
  const { digest } = policy;
  const group: Record<string, string> = {};
  for (const field of digest.groupBy) {
    if (field === 'project' || field === 'domain') group[field] = event.execution[field];
    else if (field === 'execution') group[field] = event.execution.name;
    else if (field === 'workflow') group[field] = event.workflow?.name ?? '';
    else group[field] = event.phase;
  }
  const groupKey = stateKey([policy.rule, destination.key, group]);
  return {
    rule: policy.rule,
    join: {
      groupKey,
      rule: policy.rule,
      target: JSON.stringify(destination),
      group,
      windowMs: digest.windowMs,
      max: digest.max,
      immediateFirst: digest.immediateFirst,
      event: JSON.stringify(event),
    },
  };
}

/**
 * An email that arrived rendered (FlyteAdmin's EmailMessage): sent as it is, through the
 * configured emailer, with Herald's retries, outcome and dead-lettering.
 */
export function renderedEmailDelivery(
  email: EmailMessage,
  key: string,
  parts: Pick<DeliveryParts, 'config' | 'emailer'>,
): BoundDelivery {
  const provider = parts.emailer?.name ?? parts.config.emailer.provider;
  return {
    key,
    target: { channel: 'email', to: email.to, headline: `email via ${provider}` },
    label: `email to ${email.to.join(', ')}`,
    provider,
    prepare: async () => preparedEmail(email, parts),
  };
}

/** One email ready to go: how it is shown and sent, whichever way it was made. */
function preparedEmail(email: EmailMessage, parts: Pick<DeliveryParts, 'config' | 'emailer'>): PreparedDelivery {
  const provider = parts.emailer?.name ?? parts.config.emailer.provider;
  return {
    describe: () => {
      const { from, to, subject, html, text } = email;
      return { channel: 'email', provider, from, to, subject, html, text };
    },
    describeLines: () => [
      `From:    ${email.from}`,
      `To:      ${email.to.join(', ')}`,
      `Subject: ${email.subject}`,
      '--- text ---',
      ...email.text.split('\n'),
      '--- html ---',
      ...email.html.trimEnd().split('\n'),
    ],
    send: async ({ signal }) => {
      if (!parts.emailer) return undefined;
      const result = await parts.emailer.send(email, { signal });
      const { to, subject, text } = email;
      return {
        channel: 'email',
        provider,
        providerMessageId: result.messageId,
        location: result.location,
        to,
        subject,
        text,
      };
    },
  };
}
