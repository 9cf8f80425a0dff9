import { type ExecutionEvent, maskUrlCredentials, type Phase } from '@herald/core';
import { type ChannelConfig, channelSecret } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import { buildTemplateContext, type TemplateRenderer } from '@herald/core/templates';
import type { Channel, ChannelResult, PreparedRequest } from './channel.js';
import { sendHttp } from './http.js';

type PagerDutyConfig = Extract<ChannelConfig, { type: 'pagerduty' }>;

const DEFAULT_URL = 'https://events.pagerduty.com/v2/enqueue';
const DEFAULT_SUMMARY =
  '{{ project }}/{{ domain }}/{{ name }} {{ phase }}{{#if errorMessage}}: {{ errorMessage }}{{/if}}';

/**
 * PagerDuty Events API v2. A phase in `triggerPhases` (FAILED, TIMED_OUT) opens an alert; a
 * phase in `resolvePhases` (SUCCEEDED) closes it. Both carry the same `dedup_key`, derived
 * from the execution, so a rerun that succeeds resolves the alert its failure raised.
 */
export class PagerDutyChannel implements Channel {
  readonly type = 'pagerduty';
  private readonly routingKey: string;
  private readonly url: string;
  private readonly summary: (context: unknown) => string;
  readonly triggerPhases: readonly Phase[];
  readonly resolvePhases: readonly Phase[];

  constructor(
    readonly name: string,
    private readonly config: PagerDutyConfig,
    renderer: TemplateRenderer,
    secrets: SecretReader = secretReader(),
  ) {
    const path = `herald.channels.${name}`;
    const routingKey = channelSecret(name, config, 'routingKey');
    this.routingKey = secrets.read(routingKey.sources, routingKey.keyPath).value;
    this.url = config.url ?? DEFAULT_URL;
    this.summary = renderer.compilePlain(config.summary ?? DEFAULT_SUMMARY, `${path}.summary`);
    this.triggerPhases = config.triggerPhases ?? ['FAILED', 'TIMED_OUT'];
    this.resolvePhases = config.resolvePhases ?? ['SUCCEEDED'];
  }

  alsoHears(phase: Phase): boolean {
    return this.resolvePhases.includes(phase);
  }

  /** The alert's identity: one per execution. */
  static dedupKey(event: ExecutionEvent): string {
    const { project, domain, name } = event.execution;
    return `herald/${project}/${domain}/${name}`;
  }

  prepare(event: ExecutionEvent): PreparedRequest | undefined {
    const action = this.triggerPhases.includes(event.phase)
      ? 'trigger'
      : this.resolvePhases.includes(event.phase)
        ? 'resolve'
        : undefined;
    if (!action) return undefined;
    const context = buildTemplateContext(event);
    const dedupKey = PagerDutyChannel.dedupKey(event);
    const summary = this.summary(context).slice(0, 1024);
    const payload =
      action === 'trigger'
        ? {
            routing_key: this.routingKey,
            event_action: action,
            dedup_key: dedupKey,
            payload: {
              summary,
              source: `${event.execution.project}/${event.execution.domain}`,
              severity: this.config.severity ?? 'error',
              timestamp: event.time,
              component: event.workflow?.name,
              custom_details: {
                execution: event.execution,
                phase: event.phase,
                error: event.error,
                url: event.url,
                labels: event.labels,
              },
            },
            ...(event.url ? { links: [{ href: event.url, text: 'Execution' }] } : {}),
          }
        : { routing_key: this.routingKey, event_action: action, dedup_key: dedupKey };
    const headers = { 'content-type': 'application/json' };
    return {
      method: 'POST',
      url: this.url,
      urlSource: this.config.url === undefined ? 'the default URL' : `the value of herald.channels.${this.name}.url`,
      headers,
      body: JSON.stringify(payload),
      preview: {
        url: maskUrlCredentials(this.url),
        headers,
        body: { ...payload, routing_key: '***' },
        summary: `${action} ${dedupKey}: ${summary}`,
      },
    };
  }

  async send(request: PreparedRequest, options: { signal?: AbortSignal } = {}): Promise<ChannelResult> {
    const { body } = await sendHttp('pagerduty', request, options.signal);
    try {
      return { id: String((JSON.parse(body) as { dedup_key?: string }).dedup_key ?? '') };
    } catch {
      return { id: '' };
    }
  }
}
