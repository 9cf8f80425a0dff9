import type { ResolvedConfig } from '@herald/core/config';
import { type SecretReader, secretReader } from '@herald/core/runtime';
import type { TemplateRenderer } from '@herald/core/templates';
import type { Channel } from './channel.js';
import { JiraChannel } from './jira.js';
import { PagerDutyChannel } from './pagerduty.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

/**
 * Builds every channel under `herald.channels`, reading their secrets with `secrets` (from the
 * environment and files by default; `herald render` passes stand-ins).
 * @throws ConfigError (exit 2) naming the key of a missing secret; TemplateError for a bad template.
 */
export function createChannels(
  config: Pick<ResolvedConfig, 'channels' | 'fromEnvironment'>,
  renderer: TemplateRenderer,
  secrets: SecretReader = secretReader(process.env, config.fromEnvironment),
): Map<string, Channel> {
  const channels = new Map<string, Channel>();
  for (const [name, channel] of Object.entries(config.channels)) {
    switch (channel.type) {
      case 'slack':
        channels.set(name, new SlackChannel(name, channel, renderer, secrets));
        break;
      case 'pagerduty':
        channels.set(name, new PagerDutyChannel(name, channel, renderer, secrets));
        break;
      case 'webhook':
        channels.set(name, new WebhookChannel(name, channel, renderer, secrets));
        break;
      case 'jira':
        channels.set(name, new JiraChannel(name, channel, renderer, secrets));
        break;
    }
  }
  return channels;
}
