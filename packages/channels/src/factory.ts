import type { Environment, ResolvedConfig, TemplateRenderer } from '@herald/core';
import type { Channel } from './channel.js';
import { JiraChannel } from './jira.js';
import { PagerDutyChannel } from './pagerduty.js';
import { SlackChannel } from './slack.js';
import { WebhookChannel } from './webhook.js';

/**
 * Builds every channel under `herald.channels`, reading their secrets.
 * @throws ConfigError (exit 2) naming the key of a missing secret; TemplateError for a bad template.
 */
export function createChannels(
  config: Pick<ResolvedConfig, 'channels'>,
  renderer: TemplateRenderer,
  env: Environment = process.env,
): Map<string, Channel> {
  const channels = new Map<string, Channel>();
  for (const [name, channel] of Object.entries(config.channels)) {
    switch (channel.type) {
      case 'slack':
        channels.set(name, new SlackChannel(name, channel, renderer, env));
        break;
      case 'pagerduty':
        channels.set(name, new PagerDutyChannel(name, channel, renderer, env));
        break;
      case 'webhook':
        channels.set(name, new WebhookChannel(name, channel, renderer, env));
        break;
      case 'jira':
        channels.set(name, new JiraChannel(name, channel, renderer, env));
        break;
    }
  }
  return channels;
}
