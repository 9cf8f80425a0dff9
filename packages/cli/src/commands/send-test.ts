import { createChannels } from '@herald/channels';
import { emailAddressSchema, sampleEvent } from '@herald/core';
import { compileConfigTemplates, type ResolvedConfig } from '@herald/core/config';
import { createEmailer, type Emailer } from '@herald/emailer';
import { type DeliveryReceipt, type Destination, deliveryFor } from '@herald/processor';
import { UsageError } from '../errors.js';

/** A sample FAILED event, new for each test so no idempotency key repeats. */
const testEvent = () => sampleEvent({ id: `herald-send-test-${Date.now()}`, source: 'herald send-test' });

/**
 * Sends one email, rendered from the configured templates with a sample FAILED event (its
 * subject marked `[test]`), to `to` through the configured emailer, the way `herald run`
 * delivers: the quickest way to check credentials, sender identity and templates before real
 * events flow.
 * @throws UsageError for a bad address or a config without an emailer; DeliveryError when the
 * provider refuses.
 */
export async function sendTestEmail(config: ResolvedConfig, to: string, timeoutMs: number): Promise<DeliveryReceipt> {
  if (!emailAddressSchema.safeParse(to).success) throw new UsageError(`--to: '${to}' is not an email address`);
  const emailer = createEmailer(config);
  if (!emailer) throw new UsageError(`type ${config.type} has no emailer: notifications are disabled`);
  try {
    const destination: Destination = {
      channel: 'email',
      key: `send-test:${to}`,
      to: [to],
      subject: `[test] ${config.emailer.subject}`,
      templatesFrom: 'config',
      origins: ['herald send-test'],
    };
    return await send(destination, config, emailer, timeoutMs);
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
): Promise<DeliveryReceipt> {
  const type = config.channels[name]?.type;
  if (!type) {
    const known = Object.keys(config.channels);
    throw new UsageError(`--channel: no channel named '${name}'${known.length ? ` (known: ${known.join(', ')})` : ''}`);
  }
  const destination: Destination = { channel: type, name, key: `channel:${name}`, origins: ['herald send-test'] };
  return send(destination, config, undefined, timeoutMs);
}

async function send(
  destination: Destination,
  config: ResolvedConfig,
  emailer: Emailer | undefined,
  timeoutMs: number,
): Promise<DeliveryReceipt> {
  const templates = compileConfigTemplates(config);
  const hold = templates.renderer.hold();
  try {
    const channels = createChannels(config, templates.renderer);
    const delivery = deliveryFor(destination, { config, templates, emailer, channels, codeRules: [] });
    const signal = AbortSignal.timeout(timeoutMs);
    const prepared = await delivery.prepare(testEvent(), { signal });
    if (!prepared) throw new UsageError(`${delivery.target.headline} sends nothing for a FAILED execution`);
    const receipt = await prepared.send({ signal });
    if (!receipt) throw new UsageError(`${delivery.target.headline}: nothing was sent`);
    return receipt;
  } finally {
    await hold.close();
  }
}
