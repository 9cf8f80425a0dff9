import { type ExecutionEvent, maskUrlCredentials } from '@herald/core';
import { type ChannelConfig, channelSecret, type SecretNeed } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import { buildTemplateContext, type TemplateRenderer } from '@herald/core/templates';
import type { Channel, ChannelDigest, ChannelResult, PreparedRequest } from './channel.js';
import { sendHttp } from './http.js';

type JiraConfig = Extract<ChannelConfig, { type: 'jira' }>;

const DEFAULT_SUMMARY =
  '{{ project }}/{{ domain }}/{{ name }} {{ phase }}{{#if workflow.name}} ({{ workflow.name }}){{/if}}';
const DEFAULT_DESCRIPTION =
  'Execution {{ project }}/{{ domain }}/{{ name }} {{ phase }} at {{ event.time }}.' +
  '{{#if errorMessage}}\n\nError: {{ errorMessage }}{{/if}}{{#if url}}\n\n{{ url }}{{/if}}';

/**
 * Opens a Jira issue per event, as Prefect's jira_notifier does: project, issue type, summary
 * and description from templates, an optional assignee; REST API v2 with basic auth (account
 * email + API token, both secrets).
 */
export class JiraChannel implements Channel {
  readonly type = 'jira';
  private readonly authorization: string;
  private readonly summary: (context: unknown) => string;
  private readonly description: (context: unknown) => string;

  constructor(
    readonly name: string,
    private readonly config: JiraConfig,
    renderer: TemplateRenderer,
    secrets: SecretReader = secretReader(),
  ) {
    const path = `herald.channels.${name}`;
    const read = (need: SecretNeed) => secrets.read(need.sources, need.keyPath).value;
    const email = read(channelSecret(name, config, 'email'));
    const token = read(channelSecret(name, config, 'apiToken'));
    this.authorization = `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}`;
    this.summary = renderer.compilePlain(config.summary ?? DEFAULT_SUMMARY, `${path}.summary`);
    this.description = renderer.compilePlain(config.description ?? DEFAULT_DESCRIPTION, `${path}.description`);
  }

  prepare(event: ExecutionEvent): PreparedRequest {
    const context = buildTemplateContext(event);
    return this.request(this.summary(context), this.description(context));
  }

  /** One issue for the digest: its subject as the summary, its list as the description. */
  prepareDigest(digest: ChannelDigest): PreparedRequest {
    return this.request(digest.subject(digest.context), digest.text(digest.context));
  }

  private request(summary: string, description: string): PreparedRequest {
    const fields: Record<string, unknown> = {
      project: { key: this.config.project },
      issuetype: { name: this.config.issueType ?? 'Bug' },
      // Jira refuses summaries over 255 characters or with line breaks.
      summary: summary.replace(/[\r\n]+/g, ' ').slice(0, 255),
      description,
    };
    if (this.config.assigneeAccountId) fields.assignee = { accountId: this.config.assigneeAccountId };
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const url = `${this.config.baseUrl.replace(/\/+$/, '')}/rest/api/2/issue`;
    return {
      method: 'POST',
      url,
      urlSource: `the value of herald.channels.${this.name}.baseUrl`,
      headers: { ...headers, authorization: this.authorization },
      body: JSON.stringify({ fields }),
      preview: {
        url: maskUrlCredentials(url),
        headers: { ...headers, authorization: 'Basic ***' },
        body: { fields },
        summary: String(fields.summary),
      },
    };
  }

  async send(request: PreparedRequest, options: { signal?: AbortSignal } = {}): Promise<ChannelResult> {
    const { body } = await sendHttp('jira', request, options.signal);
    try {
      return { id: String((JSON.parse(body) as { key?: string }).key ?? '') };
    } catch {
      return { id: '' };
    }
  }
}
