import { createChannels } from '@herald/channels';
import { ConfigError, sampleEvent } from '@herald/core';
import { missingSecrets, parseConfig } from '@herald/core/config';
import { secretReader, secretStandIns } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { describe, expect, it } from 'vitest';

const renderer = new TemplateRenderer();

const config = (channels: string, env: Record<string, string> = {}) =>
  parseConfig(`notifications: {type: sandbox}\nherald:\n  channels:\n${channels}`, { env });

const CHANNELS_WITH_SECRETS = `
    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL }
    hook: { type: webhook, urlFile: /nonexistent/hook-url, signingSecretEnvVar: HOOK_SIGNING }
    pager: { type: pagerduty, routingKeyEnvVar: PD_KEY }
    tickets: { type: jira, baseUrl: "https://jira.example.com", project: OPS, emailEnvVar: JIRA_EMAIL, apiTokenFile: /nonexistent/jira-token }
`;

describe('channel secrets', () => {
  it('that are missing are refused by each channel as validate refuses them', () => {
    const resolved = config(CHANNELS_WITH_SECRETS);
    const listed = missingSecrets(resolved, {}).map((p) => `${p.path}: ${p.message}`);
    const refused: string[] = [];
    for (const [name, channel] of Object.entries(resolved.channels)) {
      try {
        createChannels({ ...resolved, channels: { [name]: channel } }, renderer, secretReader({}));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        refused.push(...err.problems.map((p) => `${p.path}: ${p.message}`));
      }
    }
    // A channel stops at its first missing secret; validate lists them all.
    expect(listed).toEqual(expect.arrayContaining(refused));
    expect(refused).toHaveLength(Object.keys(resolved.channels).length);
  });

  it('are not read for a preview: each is shown as ***', () => {
    const resolved = config(CHANNELS_WITH_SECRETS);
    const channels = createChannels(resolved, renderer, secretStandIns(resolved.fromEnvironment));
    const event = sampleEvent({ phase: 'FAILED' });
    expect(channels.get('alerts')?.prepare(event)?.preview.url).toBe('***');
    expect(channels.get('hook')?.prepare(event)?.preview).toMatchObject({
      url: '***',
      headers: { 'X-Herald-Signature-256': 'sha256=***' },
    });
    expect(channels.get('pager')?.prepare(event)?.preview.body).toMatchObject({ routing_key: '***' });
    expect(channels.get('tickets')?.prepare(event)?.preview.headers).toMatchObject({ authorization: 'Basic ***' });
  });

  it('do not include a URL written in the file, which a preview shows but for query values', () => {
    const resolved = config(
      '    alerts: { type: slack, url: "https://hooks.example.com/alerts" }\n    hook: { type: webhook, url: "https://hooks.example.com/in?team=ml" }\n',
    );
    const channels = createChannels(resolved, renderer, secretStandIns(resolved.fromEnvironment));
    expect(channels.get('alerts')?.prepare(sampleEvent())?.preview.url).toBe('https://hooks.example.com/alerts');
    expect(channels.get('hook')?.prepare(sampleEvent())?.preview.url).toBe('https://hooks.example.com/in?team=***');
  });

  it('include a URL the environment filled in, which a preview masks', () => {
    const resolved = config('    alerts: { type: slack, url: "${SLACK_URL}" }\n', {
      SLACK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX',
    });
    const channels = createChannels(resolved, renderer, secretStandIns(resolved.fromEnvironment));
    expect(channels.get('alerts')?.prepare(sampleEvent())?.preview.url).toBe('https://hooks.slack.com/***');
  });
});
