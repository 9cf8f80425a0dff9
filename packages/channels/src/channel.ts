import type { ExecutionEvent, Phase } from '@herald/core';
import type { ChannelType } from '@herald/core/config';
import type { DigestContext, TemplateFn } from '@herald/core/templates';

/** An HTTP request a channel will make for one event, ready to send. */
export interface PreparedRequest {
  method: 'POST' | 'PUT' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  body: string;
  /**
   * Where `url` came from, named in an error instead of the URL, which may be a secret:
   * `the value of ${SLACK_WEBHOOK_URL}`, `the contents of /run/secrets/hook`,
   * `the value of herald.channels.alerts.url`.
   */
  urlSource?: string;
  /** What `herald render` shows: the URL and headers with secrets replaced by `***`. */
  preview: { url: string; headers: Record<string, string>; body: unknown; summary: string };
}

/**
 * A digest as a channel sends it: the events it folds, the templates of its message and the
 * context they render with. A channel may change the context before rendering (Slack escapes
 * its values).
 */
export interface ChannelDigest {
  /**
   * The same for every digest of one group (a rule, a destination, the groupBy values): PagerDuty's
   * dedup key, so one storm is one incident, however many digests it takes. (An overdue alert
   * uses its execution's own key instead.)
   */
  incidentKey: string;
  context: DigestContext;
  /** One line: a chat message's first line, an incident's summary, a ticket's title. */
  subject: TemplateFn;
  /** The list: a chat message's text, a ticket's description. */
  text: TemplateFn;
  /** The events, for payloads that carry them whole (webhooks). */
  events: readonly ExecutionEvent[];
  /**
   * `digest`: notifications folded over a window. `overdue`: one execution that did not end in
   * time (a rule's `expect`), an alert about that execution (PagerDuty: its own incident, which
   * its end resolves).
   */
  kind: 'digest' | 'overdue' | 'ratelimit';
}

/** Options of {@link Channel.prepare}. */
export interface PrepareOptions {
  /**
   * Set when the destination folds its notifications into digests (the event that opened one
   * goes out at once, with immediateFirst): see {@link ChannelDigest.incidentKey}.
   */
  incidentKey?: string | undefined;
}

/** What a channel reports for an accepted request. */
export interface ChannelResult {
  /** The service's id for it (PagerDuty dedup key, Jira issue key, …), or the HTTP status. */
  id: string;
}

/**
 * A named non-email destination: Slack, PagerDuty, a webhook, Jira. `prepare` renders the
 * request for an event (or says there is nothing to send for that phase); `send` makes it and
 * classifies the answer, throwing `DeliveryError` with `retryable` set.
 */
export interface Channel {
  /** The name under `herald.channels`. */
  readonly name: string;
  readonly type: ChannelType;
  /**
   * Whether the channel hears this phase even where a rule does not name it: PagerDuty hears
   * the phases that resolve its alert, so the success of an execution closes what its failure
   * opened. @defaultValue never
   */
  alsoHears?(phase: Phase): boolean;
  /**
   * @returns undefined when this event needs no request (e.g. PagerDuty for a phase that
   * neither triggers nor resolves).
   * @throws TemplateError when a template fails to render.
   */
  prepare(event: ExecutionEvent, options?: PrepareOptions): PreparedRequest | undefined;
  /**
   * The request of one digest: the notifications of a window folded into one message.
   * @throws TemplateError when a template fails to render.
   */
  prepareDigest(digest: ChannelDigest): PreparedRequest | undefined;
  send(request: PreparedRequest, options?: { signal?: AbortSignal }): Promise<ChannelResult>;
}
