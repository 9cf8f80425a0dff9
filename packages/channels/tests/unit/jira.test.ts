import { JiraChannel } from '@herald/channels';
import { sampleEvent } from '@herald/core';
import type { ChannelConfig } from '@herald/core/config';
import { secretReader } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hangUntilAborted, json, networkError, only, sendFailure, stubFetch, text } from './fetch-stub.js';

type JiraConfig = Extract<ChannelConfig, { type: 'jira' }>;

const renderer = new TemplateRenderer();
const EMAIL = 'herald-bot@example.com';
const TOKEN = 'ATATT3xFfGF0t0ken';
const CONSOLE_URL = 'https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3';

function jira(config: Partial<JiraConfig> = {}): JiraChannel {
  return new JiraChannel(
    'tickets',
    {
      type: 'jira',
      baseUrl: 'https://acme.atlassian.net',
      project: 'OPS',
      emailEnvVar: 'JIRA_EMAIL',
      apiTokenEnvVar: 'JIRA_TOKEN',
      ...config,
    },
    renderer,
    secretReader({ JIRA_EMAIL: EMAIL, JIRA_TOKEN: TOKEN }),
  );
}

/** Jira's answer to a created issue. */
const created = (key = 'OPS-17') =>
  json(201, { id: '10017', key, self: 'https://acme.atlassian.net/rest/api/2/issue/10017' });

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('a Jira issue', () => {
  it('is created with POST /rest/api/2/issue, basic auth and the default summary and description', async () => {
    const sent = stubFetch(created());
    const channel = jira();

    const result = await channel.send(channel.prepare(sampleEvent()));

    const request = only(sent);
    expect(request.url).toBe('https://acme.atlassian.net/rest/api/2/issue');
    expect(request.method).toBe('POST');
    expect(request.headers).toEqual({
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: 'Basic aGVyYWxkLWJvdEBleGFtcGxlLmNvbTpBVEFUVDN4RmZHRjB0MGtlbg==',
    });
    expect(Buffer.from('aGVyYWxkLWJvdEBleGFtcGxlLmNvbTpBVEFUVDN4RmZHRjB0MGtlbg==', 'base64').toString()).toBe(
      `${EMAIL}:${TOKEN}`,
    );
    expect(request.json).toEqual({
      fields: {
        project: { key: 'OPS' },
        issuetype: { name: 'Bug' },
        summary: 'flytesnacks/development/f8a1b2c3 failed (core.example.wf)',
        description:
          'Execution flytesnacks/development/f8a1b2c3 failed at 2026-11-21T10:00:00Z.\n\n' +
          `Error: division by zero\n\n${CONSOLE_URL}`,
      },
    });
    expect(result).toEqual({ id: 'OPS-17' });
  });

  it('has the configured issue type, assignee and templates', async () => {
    const sent = stubFetch(created());
    const channel = jira({
      issueType: 'Incident',
      assigneeAccountId: '5b10ac8d82e05b22cc7d4ef5',
      summary: '[{{ labels.team }}] {{ name }} {{ phaseName }}',
      description: '{{ errorCode }}: {{ errorMessage }} ({{ duration }})',
    });

    await channel.send(channel.prepare(sampleEvent({ phase: 'TIMED_OUT' })));

    expect(only(sent).json).toEqual({
      fields: {
        project: { key: 'OPS' },
        issuetype: { name: 'Incident' },
        summary: '[ml] f8a1b2c3 TIMED_OUT',
        description: 'USER:ValueError: division by zero (2m)',
        assignee: { accountId: '5b10ac8d82e05b22cc7d4ef5' },
      },
    });
  });

  it('has a one-line summary of at most 255 characters, as Jira requires, and keeps line breaks in the description', () => {
    const channel = jira({ summary: '{{ errorMessage }}', description: '{{ errorMessage }}' });
    const message = `first\r\nsecond\n\nthird ${'y'.repeat(300)}`;

    const fields = JSON.parse(channel.prepare(sampleEvent({ error: { message } })).body).fields;

    expect(fields.summary).toBe(`first second third ${'y'.repeat(255 - 'first second third '.length)}`);
    expect(fields.summary).toHaveLength(255);
    expect(fields.description).toBe(message);
  });

  it('is created under a base URL with a context path and trailing slashes', async () => {
    const sent = stubFetch(created());
    const channel = jira({ baseUrl: 'https://jira.example.com/jira//' });

    await channel.send(channel.prepare(sampleEvent()));

    expect(only(sent).url).toBe('https://jira.example.com/jira/rest/api/2/issue');
  });

  it('never shows the credentials in its preview', () => {
    const preview = jira().prepare(sampleEvent()).preview;
    expect(preview.headers).toEqual({
      'content-type': 'application/json',
      accept: 'application/json',
      authorization: 'Basic ***',
    });
    expect(JSON.stringify(preview)).not.toContain(Buffer.from(`${EMAIL}:${TOKEN}`).toString('base64'));
  });
});

describe("Jira's answers", () => {
  it('a 2xx without an issue key is still success, with an empty id', async () => {
    stubFetch(text(201, ''));
    const channel = jira();

    expect(await channel.send(channel.prepare(sampleEvent()))).toEqual({ id: '' });
  });

  it("400 fails permanently, with Jira's field errors as the reason", async () => {
    const body = { errorMessages: [], errors: { issuetype: 'Specify a valid issue type' } };
    stubFetch(json(400, body));
    const channel = jira({ issueType: 'Bogus' });

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`jira: HTTP 400: ${JSON.stringify(body)}`);
  });

  it.each([
    [401, 'Unauthorized'],
    [403, 'Forbidden'],
    [404, 'Not Found'],
  ])('%i fails permanently, never quoting the credentials', async (status, statusText) => {
    stubFetch(text(status, ''));
    const channel = jira();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`jira: HTTP ${status}: ${statusText}`);
    expect(err.message).not.toContain(TOKEN);
  });

  it('429 is retried after Retry-After given in seconds', async () => {
    stubFetch(text(429, '', { 'retry-after': '60' }));
    const channel = jira();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(60_000);
    expect(err.message).toBe('jira: HTTP 429: Too Many Requests');
  });

  it('429 is retried after Retry-After given as an HTTP date', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-21T10:00:00Z'));
    stubFetch(text(429, '', { 'retry-after': 'Sat, 21 Nov 2026 10:00:45 GMT' }));
    const channel = jira();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(45_000);
  });

  it.each([500, 503])('%i is retried', async (status) => {
    stubFetch(json(status, { errorMessages: ['Internal server error'] }));
    const channel = jira();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`jira: HTTP ${status}: {"errorMessages":["Internal server error"]}`);
  });

  it('a network failure is retried', async () => {
    stubFetch(networkError('ECONNREFUSED'));
    const channel = jira();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('jira: request failed: ECONNREFUSED');
  });

  it("an aborted send fails as retryable, with the caller's signal handed to fetch", async () => {
    const sent = stubFetch(hangUntilAborted);
    const channel = jira();
    const controller = new AbortController();

    const sending = sendFailure(() => channel.send(channel.prepare(sampleEvent()), { signal: controller.signal }));
    await vi.waitUntil(() => sent.length === 1);
    controller.abort();
    const err = await sending;

    expect(only(sent).signal).toBe(controller.signal);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('jira: aborted (timeout or shutdown)');
  });
});
