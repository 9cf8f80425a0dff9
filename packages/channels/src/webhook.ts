import { createHmac } from 'node:crypto';
import type { ExecutionEvent } from '@herald/core';
import { type ChannelConfig, channelSecret } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import { buildTemplateContext, type TemplateRenderer } from '@herald/core/templates';
import type { Channel, ChannelDigest, ChannelResult, PreparedRequest } from './channel.js';
import { ChannelEndpoint } from './endpoint.js';
import { sendHttp } from './http.js';
import { compileJsonTemplate, type JsonTemplateFn } from './json-template.js';

type WebhookConfig = Extract<ChannelConfig, { type: 'webhook' }>;

/** Header carrying `sha256=<hex HMAC of the body>` when a signing secret is configured. */
export const DEFAULT_SIGNATURE_HEADER = 'X-Herald-Signature-256';

/**
 * Calls any HTTP endpoint: method, URL, headers, and a JSON body — the event itself, or a
 * template (a YAML structure whose strings are Handlebars). With a signing secret, the body is
 * signed with HMAC-SHA256 so the receiver can check it came from Herald. Any non-2xx answer
 * is a failure; the request is aborted after `timeoutMs`.
 */
export class WebhookChannel implements Channel {
  readonly type = 'webhook';
  private readonly endpoint: ChannelEndpoint;
  private readonly body: JsonTemplateFn | undefined;
  private readonly secret: string | undefined;
  readonly timeoutMs: number;

  constructor(
    readonly name: string,
    private readonly config: WebhookConfig,
    renderer: TemplateRenderer,
    secrets: SecretReader = secretReader(),
  ) {
    const path = `herald.channels.${name}`;
    this.endpoint = ChannelEndpoint.read(secrets, config.url, channelSecret(name, config, 'url'), path);
    this.body = config.body === undefined ? undefined : compileJsonTemplate(config.body, renderer, `${path}.body`);
    const signing = channelSecret(name, config, 'signingSecret');
    // Optional: read when the file names where it is.
    this.secret =
      signing.sources.envVar || signing.sources.filePath
        ? secrets.read(signing.sources, signing.keyPath).value
        : undefined;
    this.timeoutMs = config.timeoutMs ?? 10_000;
  }

  prepare(event: ExecutionEvent): PreparedRequest {
    const payload = this.body ? this.body(buildTemplateContext(event)) : event;
    return this.request(payload, `${this.config.method ?? 'POST'} ${event.execution.name} ${event.phase}`);
  }

  /**
   * The digest as JSON, whatever the channel's `body` (a template written for one event):
   * `kind: "digest"`, its subject and text, the counts, and every event whole.
   */
  prepareDigest(digest: ChannelDigest): PreparedRequest {
    const { context } = digest;
    const subject = digest.subject(context);
    const payload = {
      kind: digest.kind,
      rule: context.rule,
      group: context.group,
      subject,
      text: digest.text(context),
      count: context.count,
      phases: context.phases,
      openedAt: context.openedAt,
      closedAt: context.closedAt,
      events: digest.events,
    };
    return this.request(payload, `${this.config.method ?? 'POST'} ${subject}`);
  }

  private request(payload: unknown, summary: string): PreparedRequest {
    const body = JSON.stringify(payload);
    const configured = this.config.headers ?? {};
    // A configured Content-Type replaces the default whatever its case: fetch would join the
    // two into one `application/json, …` value.
    const setsContentType = Object.keys(configured).some((key) => key.toLowerCase() === 'content-type');
    const headers: Record<string, string> = {
      ...(setsContentType ? {} : { 'content-type': 'application/json' }),
      ...configured,
    };
    // Configured header values often carry tokens (`Authorization: Bearer ${TOKEN}`): shown masked.
    const preview: Record<string, string> = Object.fromEntries(
      Object.entries(headers).map(([key, value]) => [key, key.toLowerCase() === 'content-type' ? value : '***']),
    );
    if (this.secret) {
      const header = this.config.signatureHeader ?? DEFAULT_SIGNATURE_HEADER;
      headers[header] = `sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`;
      preview[header] = 'sha256=***';
    }
    return {
      method: this.config.method ?? 'POST',
      url: this.endpoint.url,
      urlSource: this.endpoint.source,
      headers,
      body,
      preview: {
        url: this.endpoint.preview,
        headers: preview,
        body: payload,
        summary,
      },
    };
  }

  async send(request: PreparedRequest, options: { signal?: AbortSignal } = {}): Promise<ChannelResult> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const { status } = await sendHttp('webhook', request, signal);
    return { id: String(status) };
  }
}
