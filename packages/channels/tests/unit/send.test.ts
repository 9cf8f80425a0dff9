import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlackChannel, WebhookChannel } from '@herald/channels';
import { DeliveryError, sampleEvent } from '@herald/core';
import { secretReader } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const renderer = new TemplateRenderer();
const SECRET = 'T000/B000/XXXXSECRETXXXX';

/** Runs `send` and returns what it rejected with; fails the test when it resolves. */
async function sendFailure(send: () => Promise<unknown>): Promise<DeliveryError> {
  const err = await send().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

/** A loopback port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-channels-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a channel URL read from a secret', () => {
  it('fails every send permanently when it is malformed, naming the variable, never the URL', async () => {
    const env = { SLACK_WEBHOOK_URL: `hooks.slack.com/services/${SECRET}` };
    const slack = new SlackChannel(
      'alerts',
      { type: 'slack', webhookUrlEnvVar: 'SLACK_WEBHOOK_URL' },
      renderer,
      secretReader(env),
    );
    const request = slack.prepare(sampleEvent());

    const err = await sendFailure(() => slack.send(request));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe('slack: expected a valid http(s) URL, got the value of ${SLACK_WEBHOOK_URL} (not shown)');
    expect(request.preview.url).not.toContain('XXXXSECRET');
  });

  it('fails permanently when it carries user:password@, naming the file it was read from', async () => {
    const file = join(dir, 'hook-url');
    await writeFile(file, 'https://bot:hunter2@hooks.example.com/in\n');
    const hook = new WebhookChannel('audit', { type: 'webhook', urlFile: file }, renderer, secretReader({}));

    const err = await sendFailure(() => hook.send(hook.prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      `webhook: expected a URL without user:password@ (requests refuse one; send credentials in a header), got the contents of ${file} (not shown)`,
    );
  });
});

describe('sending', () => {
  it('fails permanently, quoting nothing, when fetch refuses a header value', async () => {
    const hook = new WebhookChannel(
      'audit',
      {
        type: 'webhook',
        url: `http://127.0.0.1:${await closedPort()}/hook`,
        headers: { authorization: 'Bearer s3cr3t\nX-Injected: 1' },
      },
      renderer,
      secretReader({}),
    );

    const err = await sendFailure(() => hook.send(hook.prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain('s3cr3t');
    expect(err.cause).toBeUndefined();
  });

  it('still retries when the endpoint cannot be reached', async () => {
    const hook = new WebhookChannel(
      'audit',
      { type: 'webhook', url: `http://127.0.0.1:${await closedPort()}/hook` },
      renderer,
      secretReader({}),
    );

    const err = await sendFailure(() => hook.send(hook.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('webhook: request failed: ECONNREFUSED');
  });
});
