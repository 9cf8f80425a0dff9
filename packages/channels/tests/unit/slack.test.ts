import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlackChannel } from '@herald/channels';
import { sampleEvent } from '@herald/core';
import type { ChannelConfig } from '@herald/core/config';
import { secretReader } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hangUntilAborted, networkError, only, sendFailure, stubFetch, text } from './fetch-stub.js';

type SlackConfig = Extract<ChannelConfig, { type: 'slack' }>;

const renderer = new TemplateRenderer();
const WEBHOOK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX';
const CONSOLE_URL = 'https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3';

function slack(config: Partial<SlackConfig> = {}): SlackChannel {
  return new SlackChannel(
    'alerts',
    { type: 'slack', webhookUrlEnvVar: 'SLACK_WEBHOOK_URL', ...config },
    renderer,
    secretReader({ SLACK_WEBHOOK_URL: WEBHOOK_URL }),
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('a Slack message', () => {
  it('is posted as JSON to the incoming webhook read from the environment, with the default text', async () => {
    const sent = stubFetch(text(200, 'ok'));
    const channel = slack();

    const result = await channel.send(channel.prepare(sampleEvent()));

    const request = only(sent);
    expect(request.url).toBe(WEBHOOK_URL);
    expect(request.method).toBe('POST');
    expect(request.headers).toEqual({ 'content-type': 'application/json' });
    expect(request.json).toEqual({
      text: `:rotating_light: *flytesnacks/development/f8a1b2c3* failed (core.example.wf). division by zero <${CONSOLE_URL}|Open>`,
    });
    expect(result).toEqual({ id: '200' });
  });

  it('marks a success with a check mark and leaves out the error and link an event does not have', async () => {
    const sent = stubFetch(text(200, 'ok'));
    const channel = slack();

    await channel.send(
      channel.prepare(sampleEvent({ phase: 'SUCCEEDED', error: undefined, url: undefined, workflow: undefined })),
    );

    expect(only(sent).json).toEqual({ text: ':white_check_mark: *flytesnacks/development/f8a1b2c3* succeeded.' });
  });

  it("escapes &, < and > in event values for Slack's markup, but not in the template's own links", async () => {
    const sent = stubFetch(text(200, 'ok'));
    const channel = slack();

    await channel.send(channel.prepare(sampleEvent({ error: { message: 'a < b && c > d <!channel>' } })));

    expect((only(sent).json as { text: string }).text).toBe(
      ':rotating_light: *flytesnacks/development/f8a1b2c3* failed (core.example.wf).' +
        ` a &lt; b &amp;&amp; c &gt; d &lt;!channel&gt; <${CONSOLE_URL}|Open>`,
    );
  });

  it('renders a text template and Block Kit blocks, each string on its own, so values cannot break the JSON', async () => {
    const sent = stubFetch(text(200, 'ok'));
    const channel = slack({
      text: '{{ name }} {{ phaseName }}',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*{{ name }}*: {{ errorMessage }}' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'team {{ labels.team }}' }], block_id: 7 },
      ],
    });

    await channel.send(channel.prepare(sampleEvent({ error: { message: 'bad "quote"\n}, "x": {' } })));

    expect(only(sent).json).toEqual({
      text: 'f8a1b2c3 FAILED',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*f8a1b2c3*: bad "quote"\n}, "x": {' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'team ml' }], block_id: 7 },
      ],
    });
  });

  it('goes to a webhook URL read from a file, without its trailing newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-slack-'));
    try {
      const file = join(dir, 'slack-url');
      await writeFile(file, `${WEBHOOK_URL}\n`);
      const sent = stubFetch(text(200, 'ok'));
      const channel = new SlackChannel('alerts', { type: 'slack', webhookUrlFile: file }, renderer, secretReader({}));

      await channel.send(channel.prepare(sampleEvent()));

      expect(only(sent).url).toBe(WEBHOOK_URL);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("Slack's answers", () => {
  it.each([
    [400, 'invalid_payload'],
    [403, 'action_prohibited'],
    [404, 'no_service'],
    [410, 'channel_is_archived'],
  ])('%i %s fails permanently, with the error Slack gave as the reason', async (status, error) => {
    stubFetch(text(status, error));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.provider).toBe('slack');
    expect(err.message).toBe(`slack: HTTP ${status}: ${error}`);
  });

  it('429 is retried after the Retry-After Slack asks for', async () => {
    stubFetch(text(429, 'rate_limited', { 'retry-after': '30' }));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(30_000);
    expect(err.message).toBe('slack: HTTP 429: rate_limited');
  });

  it('429 without Retry-After is retried with no server-given delay', async () => {
    stubFetch(text(429, ''));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeUndefined();
    expect(err.message).toBe('slack: HTTP 429: Too Many Requests');
  });

  it.each([500, 502, 503])('%i is retried', async (status) => {
    stubFetch(text(status, 'rollup_error'));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBeUndefined();
    expect(err.message).toBe(`slack: HTTP ${status}: rollup_error`);
  });

  it('a network failure is retried, naming the socket error and never the URL', async () => {
    stubFetch(networkError('ECONNRESET'));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('slack: request failed: ECONNRESET');
    expect(err.message).not.toContain('XXXXSECRET');
  });
});

describe('a Slack send', () => {
  it("hands the caller's signal to fetch and, when it aborts, fails as retryable", async () => {
    const sent = stubFetch(hangUntilAborted);
    const channel = slack();
    const controller = new AbortController();

    const sending = sendFailure(() => channel.send(channel.prepare(sampleEvent()), { signal: controller.signal }));
    await vi.waitUntil(() => sent.length === 1);
    controller.abort();
    const err = await sending;

    expect(only(sent).signal).toBe(controller.signal);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('slack: aborted (timeout or shutdown)');
  });

  it('with a signal already aborted fails as retryable', async () => {
    stubFetch(text(200, 'ok'));
    const channel = slack();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent()), { signal: AbortSignal.abort() }));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('slack: aborted (timeout or shutdown)');
  });
});
