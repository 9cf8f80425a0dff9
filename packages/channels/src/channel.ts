import type { ExecutionEvent, Phase } from '@herald/core';
import type { ChannelType } from '@herald/core/config';

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
  prepare(event: ExecutionEvent): PreparedRequest | undefined;
  send(request: PreparedRequest, options?: { signal?: AbortSignal }): Promise<ChannelResult>;
}
