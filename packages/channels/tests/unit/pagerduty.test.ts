import { PagerDutyChannel } from '@herald/channels';
import { PHASES, sampleEvent } from '@herald/core';
import type { ChannelConfig } from '@herald/core/config';
import { secretReader } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hangUntilAborted, json, networkError, only, sendFailure, stubFetch, text } from './fetch-stub.js';

type PagerDutyConfig = Extract<ChannelConfig, { type: 'pagerduty' }>;

const renderer = new TemplateRenderer();
const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000000';
const EVENTS_API = 'https://events.pagerduty.com/v2/enqueue';
const DEDUP_KEY = 'herald/flytesnacks/development/f8a1b2c3';
const CONSOLE_URL = 'https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3';

function pagerduty(config: Partial<PagerDutyConfig> = {}): PagerDutyChannel {
  return new PagerDutyChannel(
    'pager',
    { type: 'pagerduty', routingKeyEnvVar: 'PD_KEY', ...config },
    renderer,
    secretReader({ PD_KEY: ROUTING_KEY }),
  );
}

/** PagerDuty's answer to an accepted event. */
const accepted = (dedupKey = DEDUP_KEY) =>
  json(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('a PagerDuty alert', () => {
  it('is triggered by a failure with an Events API v2 trigger event', async () => {
    const sent = stubFetch(accepted());
    const channel = pagerduty();

    await channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send'));

    const request = only(sent);
    expect(request.url).toBe(EVENTS_API);
    expect(request.method).toBe('POST');
    expect(request.headers).toEqual({ 'content-type': 'application/json' });
    expect(request.json).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: DEDUP_KEY,
      payload: {
        summary: 'flytesnacks/development/f8a1b2c3 failed: division by zero',
        source: 'flytesnacks/development',
        severity: 'error',
        timestamp: '2026-11-21T10:00:00Z',
        component: 'core.example.wf',
        custom_details: {
          execution: { project: 'flytesnacks', domain: 'development', name: 'f8a1b2c3' },
          phase: 'FAILED',
          error: { code: 'USER:ValueError', message: 'division by zero' },
          url: CONSOLE_URL,
          labels: { team: 'ml' },
        },
      },
      links: [{ href: CONSOLE_URL, text: 'Execution' }],
    });
  });

  it('is triggered by a timeout too, with the configured severity and summary, and no link without a URL', () => {
    const channel = pagerduty({ severity: 'critical', summary: '{{ name }} {{ phaseName }} on {{ labels.team }}' });

    const request = channel.prepare(sampleEvent({ phase: 'TIMED_OUT', error: undefined, url: undefined }));

    const body = JSON.parse(request?.body ?? '{}');
    expect(body.event_action).toBe('trigger');
    expect(body.payload.severity).toBe('critical');
    expect(body.payload.summary).toBe('f8a1b2c3 TIMED_OUT on ml');
    expect(body).not.toHaveProperty('links');
  });

  it('is resolved by a success with a resolve event carrying the dedup_key its trigger had', async () => {
    const sent = stubFetch(accepted());
    const channel = pagerduty();
    const failed = sampleEvent({ id: '00000000-0000-4000-8000-000000000001', phase: 'FAILED' });
    const succeeded = sampleEvent({
      id: '00000000-0000-4000-8000-000000000002',
      time: '2026-11-21T11:30:00Z',
      phase: 'SUCCEEDED',
      previousPhase: 'RUNNING',
      error: undefined,
    });

    await channel.send(channel.prepare(failed) ?? expect.fail('nothing to send'));
    await channel.send(channel.prepare(succeeded) ?? expect.fail('nothing to send'));

    expect(sent).toHaveLength(2);
    expect(JSON.parse(sent[1]?.body ?? '')).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: DEDUP_KEY,
    });
    expect(JSON.parse(sent[0]?.body ?? '').dedup_key).toBe(DEDUP_KEY);
    expect(sent[1]?.url).toBe(EVENTS_API);
  });

  it('has one dedup_key per execution, whatever the event, and another for another execution', () => {
    const a = sampleEvent();
    expect(PagerDutyChannel.dedupKey(a)).toBe(DEDUP_KEY);
    expect(
      PagerDutyChannel.dedupKey(sampleEvent({ id: '00000000-0000-4000-8000-00000000000f', phase: 'TIMED_OUT' })),
    ).toBe(DEDUP_KEY);
    expect(
      PagerDutyChannel.dedupKey(
        sampleEvent({ execution: { project: 'flytesnacks', domain: 'production', name: 'f8a1b2c3' } }),
      ),
    ).toBe('herald/flytesnacks/production/f8a1b2c3');
    expect(
      PagerDutyChannel.dedupKey(
        sampleEvent({ execution: { project: 'flytesnacks', domain: 'development', name: 'a1' } }),
      ),
    ).toBe('herald/flytesnacks/development/a1');
  });

  it('sends nothing for a phase that neither triggers nor resolves', () => {
    const channel = pagerduty();
    const silent = PHASES.filter((phase) => channel.prepare(sampleEvent({ phase })) === undefined);
    expect(silent).toEqual(['UNDEFINED', 'QUEUED', 'RUNNING', 'SUCCEEDING', 'FAILING', 'ABORTED', 'ABORTING']);
  });

  it('hears the phases that resolve it even where a rule does not name them, and only those', () => {
    const channel = pagerduty();
    expect(PHASES.filter((phase) => channel.alsoHears(phase))).toEqual(['SUCCEEDED']);

    const custom = pagerduty({ triggerPhases: ['FAILED'], resolvePhases: ['SUCCEEDED', 'ABORTED'] });
    expect(PHASES.filter((phase) => custom.alsoHears(phase))).toEqual(['SUCCEEDED', 'ABORTED']);
    expect(JSON.parse(custom.prepare(sampleEvent({ phase: 'ABORTED' }))?.body ?? '').event_action).toBe('resolve');
    expect(custom.prepare(sampleEvent({ phase: 'TIMED_OUT' }))).toBeUndefined();

    const neverResolves = pagerduty({ resolvePhases: [] });
    expect(PHASES.filter((phase) => neverResolves.alsoHears(phase))).toEqual([]);
    expect(neverResolves.prepare(sampleEvent({ phase: 'SUCCEEDED' }))).toBeUndefined();
  });

  it('cuts the summary to the 1024 characters PagerDuty accepts', () => {
    const channel = pagerduty({ summary: '{{ errorMessage }}' });
    const request = channel.prepare(sampleEvent({ error: { message: 'x'.repeat(2000) } }));
    expect(JSON.parse(request?.body ?? '').payload.summary).toBe('x'.repeat(1024));
  });

  it('goes to the configured Events API URL instead of the default', async () => {
    const sent = stubFetch(accepted());
    const channel = pagerduty({ url: 'https://events.eu.pagerduty.com/v2/enqueue' });

    await channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send'));

    expect(only(sent).url).toBe('https://events.eu.pagerduty.com/v2/enqueue');
  });
});

describe("PagerDuty's answers", () => {
  it("202 is success, reporting PagerDuty's dedup_key", async () => {
    stubFetch(accepted('herald/other/key'));
    const channel = pagerduty();

    expect(await channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send'))).toEqual({
      id: 'herald/other/key',
    });
  });

  it('a 2xx without a JSON body is still success, with an empty id', async () => {
    stubFetch(text(202, 'accepted'));
    const channel = pagerduty();

    expect(await channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send'))).toEqual({ id: '' });
  });

  it('400 (an invalid event) fails permanently, with the errors PagerDuty gave as the reason', async () => {
    const body = { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid routing key'] };
    stubFetch(json(400, body));
    const channel = pagerduty();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send')));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`pagerduty: HTTP 400: ${JSON.stringify(body)}`);
  });

  it('429 is retried, after Retry-After when PagerDuty sends one', async () => {
    stubFetch(json(429, { status: 'throttled' }, { 'retry-after': '12' }), text(429, ''));
    const channel = pagerduty();
    const request = channel.prepare(sampleEvent()) ?? expect.fail('nothing to send');

    const withDelay = await sendFailure(() => channel.send(request));
    const withoutDelay = await sendFailure(() => channel.send(request));

    expect(withDelay.retryable).toBe(true);
    expect(withDelay.retryAfterMs).toBe(12_000);
    expect(withoutDelay.retryable).toBe(true);
    expect(withoutDelay.retryAfterMs).toBeUndefined();
  });

  it.each([
    [500, 'Internal Server Error'],
    [502, 'Bad Gateway'],
    [503, 'Service Unavailable'],
  ])('%i is retried', async (status, statusText) => {
    stubFetch(text(status, ''));
    const channel = pagerduty();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send')));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`pagerduty: HTTP ${status}: ${statusText}`);
  });

  it('a network failure is retried', async () => {
    stubFetch(networkError('ETIMEDOUT'));
    const channel = pagerduty();

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent()) ?? expect.fail('nothing to send')));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('pagerduty: request failed: ETIMEDOUT');
  });

  it('an aborted send fails as retryable, and never shows the routing key', async () => {
    const sent = stubFetch(hangUntilAborted);
    const channel = pagerduty();
    const controller = new AbortController();
    const request = channel.prepare(sampleEvent()) ?? expect.fail('nothing to send');

    const sending = sendFailure(() => channel.send(request, { signal: controller.signal }));
    await vi.waitUntil(() => sent.length === 1);
    controller.abort();
    const err = await sending;

    expect(only(sent).signal).toBe(controller.signal);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('pagerduty: aborted (timeout or shutdown)');
    expect(err.message).not.toContain(ROUTING_KEY);
  });
});
