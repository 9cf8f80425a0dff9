import { createHmac } from 'node:crypto';
import {
  buildTemplateContext,
  type ChannelConfig,
  type Environment,
  type ExecutionEvent,
  readSecret,
  readSecretValue,
  type TemplateRenderer,
} from '@herald/core';
import type { Channel, ChannelResult, PreparedRequest } from './channel.js';
import { redactUrl, sendHttp } from './http.js';
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
  private readonly url: string;
  private readonly urlSource: string;
  private readonly body: JsonTemplateFn | undefined;
  private readonly secret: string | undefined;
  readonly timeoutMs: number;

  constructor(
    readonly name: string,
    private readonly config: WebhookConfig,
    renderer: TemplateRenderer,
    env: Environment = process.env,
  ) {
    const path = `herald.channels.${name}`;
    // The loader requires url, urlEnvVar or urlFile; without any, readSecretValue says so. A
    // malformed URL is not refused here: each send fails permanently, naming urlSource.
    const secret =
      config.url === undefined
        ? readSecretValue({ envVar: config.urlEnvVar, filePath: config.urlFile }, `${path}.urlEnvVar`, env)
        : { value: config.url, source: `the value of ${path}.url` };
    this.url = secret.value;
    this.urlSource = secret.source;
    this.body = config.body === undefined ? undefined : compileJsonTemplate(config.body, renderer, `${path}.body`);
    this.secret =
      config.signingSecretEnvVar || config.signingSecretFile
        ? readSecret(
            { envVar: config.signingSecretEnvVar, filePath: config.signingSecretFile },
            `${path}.signingSecretEnvVar`,
            env,
          )
        : undefined;
    this.timeoutMs = config.timeoutMs ?? 10_000;
  }

  prepare(event: ExecutionEvent): PreparedRequest {
    const payload = this.body ? this.body(buildTemplateContext(event)) : event;
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(this.config.headers ?? {}) };
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
      url: this.url,
      urlSource: this.urlSource,
      headers,
      body,
      preview: {
        url: redactUrl(this.url),
        headers: preview,
        body: payload,
        summary: `${this.config.method ?? 'POST'} ${event.execution.name} ${event.phase}`,
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
