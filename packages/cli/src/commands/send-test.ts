import { createChannels } from '@herald/channels';
import {
  buildTemplateContext,
  compileConfigTemplates,
  emailAddressSchema,
  type ResolvedConfig,
  sampleEvent,
} from '@herald/core';
import { createEmailer, type SendResult } from '@herald/emailer';
import { UsageError } from '../errors.js';

/**
 * Sends one email, rendered from the configured templates with a sample FAILED event, to
 * `to` through the configured emailer: the quickest way to check credentials, sender identity
 * and templates before real events flow.
 * @throws UsageError for a bad address or a config without an emailer; DeliveryError when the
 * provider refuses.
 */
export async function sendTestEmail(
  config: ResolvedConfig,
  to: string,
  timeoutMs: number,
): Promise<SendResult & { provider: string; subject: string }> {
  if (!emailAddressSchema.safeParse(to).success) throw new UsageError(`--to: '${to}' is not an email address`);
  const emailer = createEmailer(config);
  if (!emailer) throw new UsageError(`type ${config.type} has no emailer: notifications are disabled`);
  try {
    const rendered = compileConfigTemplates(config).defaultEmail.render(
      buildTemplateContext(sampleEvent({ id: `herald-send-test-${Date.now()}`, source: 'herald send-test' })),
    );
    const result = await emailer.send(
      {
        from: config.emailer.sender,
        to: [to],
        subject: `[test] ${rendered.subject}`,
        html: rendered.html,
        text: rendered.text,
        idempotencyKey: `send-test/${Date.now()}/${to}`,
      },
      { signal: AbortSignal.timeout(timeoutMs) },
    );
    return { ...result, provider: emailer.name, subject: `[test] ${rendered.subject}` };
  } finally {
    await emailer.close();
  }
}

/**
 * Sends one test message, rendered for a sample FAILED event, to the channel `name` under
 * `herald.channels` — Prefect users' "send a test notification" button, on the command line.
 * @throws UsageError for an unknown channel; DeliveryError when the service refuses.
 */
export async function sendTestToChannel(
  config: ResolvedConfig,
  name: string,
  timeoutMs: number,
): Promise<{ type: string; id: string }> {
  const renderer = compileConfigTemplates(config).renderer;
  const channel = createChannels(config, renderer).get(name);
  if (!channel) {
    const known = Object.keys(config.channels);
    throw new UsageError(`--channel: no channel named '${name}'${known.length ? ` (known: ${known.join(', ')})` : ''}`);
  }
  const request = channel.prepare(sampleEvent({ id: `herald-send-test-${Date.now()}`, source: 'herald send-test' }));
  if (!request) throw new UsageError(`channel '${name}' sends nothing for a FAILED execution`);
  const result = await channel.send(request, { signal: AbortSignal.timeout(timeoutMs) });
  return { type: channel.type, id: result.id };
}
