import { type ExecutionEvent, maskUrlCredentials, type Phase } from '@herald/core';
import { type ChannelConfig, channelSecret } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import { buildTemplateContext, type TemplateRenderer } from '@herald/core/templates';
import type { Channel, ChannelDigest, ChannelResult, PreparedRequest, PrepareOptions } from './channel.js';
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

  /** The alert of a group whose notifications fold into digests: one per storm, not per execution. */
  static digestDedupKey(incidentKey: string): string {
    return `herald/digest/${incidentKey}`;
  }

  prepare(event: ExecutionEvent, options: PrepareOptions = {}): PreparedRequest | undefined {
    const action = this.actionFor(event.phase);
    if (!action) return undefined;
    const context = buildTemplateContext(event);
    // The event that opened a digest goes out at once under the group's key, so the digest
    // that follows adds to its incident instead of opening another.
    const dedupKey =
      options.incidentKey === undefined
        ? PagerDutyChannel.dedupKey(event)
        : PagerDutyChannel.digestDedupKey(options.incidentKey);
    const summary = this.summary(context).slice(0, 1024);
    return this.alert(action, dedupKey, summary, {
      source: `${event.execution.project}/${event.execution.domain}`,
      timestamp: event.time,
      component: event.workflow?.name,
      custom_details: {
        execution: event.execution,
        phase: event.phase,
        error: event.error,
        url: event.url,
        labels: event.labels,
      },
      links: event.url ? [{ href: event.url, text: 'Execution' }] : undefined,
    });
  }

  /**
   * A digest is one alert for its group (see {@link digestDedupKey}): a trigger with the count in
   * its summary and the executions in its details while any of its events is a trigger phase;
   * a digest of resolve phases only (every execution in it went on to succeed) resolves it.
   */
  prepareDigest(digest: ChannelDigest): PreparedRequest | undefined {
    const actions = new Set(digest.events.map((event) => this.actionFor(event.phase)));
    const overdue = digest.kind === 'overdue';
    // An execution still running when it should have ended is an alert of its own, under the
    // execution's key: its end (SUCCEEDED) resolves it, a failure adds to it.
    const action = overdue || actions.has('trigger') ? 'trigger' : actions.has('resolve') ? 'resolve' : undefined;
    if (!action) return undefined;
    const { context } = digest;
    const first = digest.events[0];
    const dedupKey =
      overdue && first ? PagerDutyChannel.dedupKey(first) : PagerDutyChannel.digestDedupKey(digest.incidentKey);
    const summary = digest.subject(context).slice(0, 1024);
    return this.alert(action, dedupKey, summary, {
      source: first ? `${first.execution.project}/${first.execution.domain}` : 'herald',
      timestamp: context.closedAt,
      custom_details: {
        kind: digest.kind,
        count: context.count,
        phases: context.phases,
        rule: context.rule,
        group: context.group,
        executions: context.listed.map((e) => `${e.project}/${e.domain}/${e.name} ${e.phaseName}`),
        more: context.more,
      },
    });
  }

  /** One Events API v2 request: a trigger with its payload (and links), or a resolve of the key. */
  private alert(
    action: 'trigger' | 'resolve',
    dedupKey: string,
    summary: string,
    trigger: {
      source: string;
      timestamp: string | undefined;
      component?: string | undefined;
      custom_details: Record<string, unknown>;
      links?: { href: string; text: string }[] | undefined;
    },
  ): PreparedRequest {
    const { links, ...details } = trigger;
    const payload =
      action === 'trigger'
        ? {
            routing_key: this.routingKey,
            event_action: action,
            dedup_key: dedupKey,
            payload: { summary, ...details, severity: this.config.severity ?? 'error' },
            ...(links ? { links } : {}),
          }
        : { routing_key: this.routingKey, event_action: action, dedup_key: dedupKey };
    return this.request(payload, `${action} ${dedupKey}: ${summary}`);
  }

  private actionFor(phase: Phase): 'trigger' | 'resolve' | undefined {
    if (this.triggerPhases.includes(phase)) return 'trigger';
    if (this.resolvePhases.includes(phase)) return 'resolve';
    return undefined;
  }

  private request(payload: { routing_key: string }, summary: string): PreparedRequest {
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
        summary,
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
