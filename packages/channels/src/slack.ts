import type { ExecutionEvent } from '@herald/core';
import { type ChannelConfig, channelSecret } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import { buildTemplateContext, type TemplateRenderer } from '@herald/core/templates';
import type { Channel, ChannelDigest, ChannelResult, PreparedRequest } from './channel.js';
import { ChannelEndpoint } from './endpoint.js';
import { sendHttp } from './http.js';
import { compileJsonTemplate, type JsonTemplateFn } from './json-template.js';

type SlackConfig = Extract<ChannelConfig, { type: 'slack' }>;

/** Default message: one line, with a link when the event has one. */
const DEFAULT_TEXT =
  '{{#if (eq phaseName "SUCCEEDED")}}:white_check_mark:{{else}}:rotating_light:{{/if}} ' +
  '*{{ project }}/{{ domain }}/{{ name }}* {{ phase }}{{#if workflow.name}} ({{ workflow.name }}){{/if}}.' +
  '{{#if errorMessage}} {{ errorMessage }}{{/if}}{{#if url}} <{{ url }}|Open>{{/if}}';

/**
 * Posts to a Slack incoming webhook: `text` (a Handlebars template, also the notification
 * fallback) and optional Block Kit `blocks` (a YAML structure whose strings are templates).
 * The webhook URL is a secret. Slack answers 429 with Retry-After when rate limited.
 */
export class SlackChannel implements Channel {
  readonly type = 'slack';
  private readonly endpoint: ChannelEndpoint;
  private readonly text: (context: unknown) => string;
  private readonly blocks: JsonTemplateFn | undefined;

  constructor(
    readonly name: string,
    config: SlackConfig,
    renderer: TemplateRenderer,
    secrets: SecretReader = secretReader(),
  ) {
    const path = `herald.channels.${name}`;
    this.endpoint = ChannelEndpoint.read(secrets, config.url, channelSecret(name, config, 'url'), path);
    this.text = renderer.compilePlain(config.text ?? DEFAULT_TEXT, `${path}.text`);
    this.blocks =
      config.blocks === undefined ? undefined : compileJsonTemplate(config.blocks, renderer, `${path}.blocks`);
  }

  prepare(event: ExecutionEvent): PreparedRequest {
    // Slack reads &, < and > as markup (links, mentions); in values they must be escaped.
    const context = escapeStrings(buildTemplateContext(event));
    const payload: Record<string, unknown> = { text: this.text(context) };
    if (this.blocks) payload.blocks = this.blocks(context);
    return this.request(payload);
  }

  /** One message: the subject in bold, then the list. */
  prepareDigest(digest: ChannelDigest): PreparedRequest {
    const context = escapeStrings(digest.context);
    return this.request({ text: `*${digest.subject(context)}*\n${digest.text(context)}`.trimEnd() });
  }

  private request(payload: Record<string, unknown>): PreparedRequest {
    const headers = { 'content-type': 'application/json' };
    return {
      method: 'POST',
      url: this.endpoint.url,
      urlSource: this.endpoint.source,
      headers,
      body: JSON.stringify(payload),
      preview: {
        url: this.endpoint.preview,
        headers,
        body: payload,
        summary: String(payload.text),
      },
    };
  }

  async send(request: PreparedRequest, options: { signal?: AbortSignal } = {}): Promise<ChannelResult> {
    const { status } = await sendHttp('slack', request, options.signal);
    return { id: String(status) };
  }
}

/** Escapes &, < and > as Slack's message formatting requires. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A copy of a value with every string in it escaped for Slack. */
function escapeStrings(value: unknown): unknown {
  if (typeof value === 'string') return slackEscape(value);
  if (Array.isArray(value)) return value.map(escapeStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, escapeStrings(item)]));
  }
  return value;
}
